// Conversation: one lead, its timeline (messages in and out, and the facts: created, qualified, contract),
// and the handoff. Every value from the lead goes through text nodes (dom.h), never markup.
import { api, describe, session } from "../api.js";
import { fill, h, when } from "../dom.js";
import { lang, t } from "../i18n.js";
import { messageText } from "./inbox.js";

export const scope = "leads:read";

export async function render(main, [leadId], ctx) {
  const path = `/v1/leads/${encodeURIComponent(leadId)}`;
  const header = h("div", { class: "card" });
  const actions = h("div", { class: "toolbar" });
  const status = h("p", { role: "status", "aria-live": "polite", class: "note" });
  const list = h("ol", { class: "timeline", "aria-label": t("timeline") });
  const dealCard = h("section", { "aria-label": t("deal") });
  main.append(h("p", {}, h("a", { href: "#/inbox" }, `← ${t("back")}`)), h("h1", {}, t("conversation")), header, actions, status, dealCard,
    h("h2", {}, t("timeline")), list);

  async function refresh() {
    const lead = await api(`${path}?timeline_limit=200`, { signal: ctx.signal });
    contact = lead.external_id;
    fill(header,
      h("p", {}, h("strong", {}, lead.external_id ?? lead.lead_id), " · ",
        h("span", { class: `badge s-${lead.status}` }, lead.status), " · ", t(`source_${lead.source}`)),
      h("p", { class: "note" }, `${t("created")}: ${when(lead.created_at, lang)}`,
        lead.score !== null ? ` · ${t("score")}: ${lead.score}` : "",
        lead.deal_id ? ` · ${t("deal")}: ${lead.deal_id}` : ""),
      lead.summary ? h("p", { class: "msg" }, lead.summary) : null,
      h("p", { id: "handoff-state" }, lead.handoff.active ? t("handedOff") : t("withAgent"),
        lead.handoff.reason ? ` — ${lead.handoff.reason}` : ""));
    drawActions(lead);
    await drawDeal(lead);
    // Oldest at the top, as a chat reads.
    list.replaceChildren(...[...lead.timeline].reverse().map(entry));
  }

  // The lead's deal and its contract, as far as the API has them today (one deal per lead).
  async function drawDeal(lead) {
    if (!lead.deal_id) return fill(dealCard);
    if (!session.can("deals:read")) return fill(dealCard, h("p", { class: "why" }, `${t("deal")}: ${t("notAllowed")} deals:read`));
    const deal = await api(`/v1/deals/${encodeURIComponent(lead.deal_id)}`, { signal: ctx.signal });
    const money = deal.value.toLocaleString(lang, { style: "currency", currency: deal.currency });
    const event = [deal.event.type, deal.event.date, deal.event.guests, deal.event.location].filter((v) => v !== null && v !== undefined);
    let contract = null;
    const contractId = deal.contract_id ?? lead.contract_id; // the lead's is set by contract.created
    if (contractId && session.can("contracts:read")) {
      const c = await api(`/v1/contracts/${encodeURIComponent(contractId)}`, { signal: ctx.signal });
      contract = `${t("contracts")}: ${c.status} · ${t("signers")} ${c.progress.signed}/${c.progress.total}`;
    }
    fill(dealCard, h("h2", {}, t("deal")), h("p", { id: "deal" }, `${money}`, event.length ? ` · ${event.join(" · ")}` : ""),
      contract ? h("p", { id: "contract" }, contract) : null);
  }

  function drawActions(lead) {
    const allowed = session.can("leads:write");
    const why = allowed ? null : h("span", { class: "why", id: "handoff-why" }, `${t("notAllowed")} leads:write`);
    const reason = h("input", { id: "handoff-reason", maxlength: 500, disabled: !allowed || lead.handoff.active });
    const button = h("button", {
      type: "button", id: "handoff-toggle", disabled: !allowed, "aria-describedby": why ? "handoff-why" : undefined,
    }, lead.handoff.active ? t("giveBack") : t("handOff"));
    button.addEventListener("click", async () => {
      button.disabled = true; // one click, one request
      try {
        if (lead.handoff.active) await api(`${path}/handoff`, { method: "DELETE" });
        else await api(`${path}/handoff`, { method: "PUT", body: { reason: reason.value || null } });
        await refresh();
      } catch (error) {
        status.textContent = describe(error);
        button.disabled = false;
      }
    });
    fill(actions,
      lead.handoff.active ? null : h("label", { for: "handoff-reason" }, t("reason"), reason), button, why);
  }

  let contact = null; // the lead's external id: its messages name the contact, not the lead
  const concerns = (type, p) =>
    type === "reconnected" ||
    (type === "message.received" && p.lead_external_id === contact) ||
    (type === "message.sent" && contact !== null && digits(contact) === digits(p.to)) ||
    ((type.startsWith("lead.") || type.startsWith("contract.")) && p.lead_id === leadId);
  const unsubscribe = ctx.subscribe(({ type, event }) => {
    if (concerns(type, event?.payload ?? {})) refresh().catch(() => {});
  });
  ctx.signal.addEventListener("abort", unsubscribe);
  await refresh();
}

// message.sent names a number or a JID ("5511…@s.whatsapp.net"), the lead a contact id ("wa:+5511…").
const digits = (address) => String(address).split("@")[0].replace(/\D/g, "");

function entry(item) {
  const d = item.details;
  const at = h("div", { class: "meta" }, `${when(item.at, lang)} · ${item.type}`);
  if (item.type === "message.received") return h("li", { class: "in" }, h("div", { class: "msg" }, messageText(d) || d.media || ""), at);
  if (item.type === "message.sent") return h("li", { class: "out" }, h("div", { class: "msg" }, messageText(d)), at);
  const facts = Object.entries(d).filter(([, v]) => v !== null && typeof v !== "object").map(([k, v]) => `${k}: ${v}`);
  return h("li", { class: "fact" }, facts.join(" · "), at);
}
