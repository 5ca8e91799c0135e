// Conversation: one lead, its timeline (the lead, the agent and humans; media with their captions; the facts:
// created, qualified, contract), the qualification and slots, the handoff, the owner, notes and the reply box.
// Every value from the lead goes through text nodes (dom.h), never markup.
import { api, describe, guard, idempotencyKey, session, settling } from "../api.js";
import { fill, h, when } from "../dom.js";
import { lang, t } from "../i18n.js";
import { messageText } from "./inbox.js";
import { markRead } from "../unread.js";


export async function render(main, [leadId], ctx) {
  const path = `/v1/leads/${encodeURIComponent(leadId)}`;
  const header = h("div", { class: "card" });
  const actions = h("div", { class: "toolbar" });
  const status = h("p", { role: "status", "aria-live": "polite", class: "note" });
  const list = h("ol", { class: "timeline", "aria-label": t("timeline") });
  const dealCard = h("section", { "aria-label": t("deal") });
  const desk = h("section", { class: "desk", "aria-label": `${t("owner")} · ${t("notes")}` });
  const reply = replyBox(leadId, status, () => refresh());
  main.append(h("p", {}, h("a", { href: "#/inbox" }, `← ${t("back")}`)), h("h1", {}, t("conversation")), header, actions, status, dealCard,
    h("h2", {}, t("timeline")), list, reply, desk);
  markRead(leadId);

  async function refresh() {
    const lead = await api(`${path}?timeline_limit=200`, { signal: ctx.signal });
    contact = lead.external_id;
    markRead(leadId); // what is on screen is read
    fill(header,
      h("p", {}, h("strong", {}, lead.external_id ?? lead.lead_id), " · ",
        h("span", { class: `badge s-${lead.status}` }, lead.status), " · ", t(`source_${lead.source}`)),
      h("p", { class: "note" }, `${t("created")}: ${when(lead.created_at, lang)}`,
        lead.score !== null ? ` · ${t("score")}: ${lead.score}` : "",
        lead.deal_id ? ` · ${t("deal")}: ${lead.deal_id}` : ""),
      lead.summary ? h("p", { class: "msg" }, lead.summary) : null,
      h("p", { id: "qualification" }, `${t("qualification")}: `, lead.criteria.length ? lead.criteria.map((c) => t(`slot_${c}`)).join(", ") : "—",
        lead.qualified_at ? ` · ${when(lead.qualified_at, lang)}` : ""),
      h("p", { id: "handoff-state" }, lead.handoff.active ? t("handedOff") : t("withAgent"),
        lead.handoff.reason ? ` — ${lead.handoff.reason}` : ""));
    drawActions(lead);
    // Drawn once: a live message re-reads the lead, and must not wipe an owner or a note being typed.
    if (!desk.childElementCount) await drawDesk(lead);
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
    const slots = [["date", deal.event.date], ["guests", deal.event.guests], ["budget", money], ["location", deal.event.location]];
    fill(dealCard, h("h2", {}, h("a", { href: `#/deal/${encodeURIComponent(deal.deal_id)}` }, t("deal"))),
      h("p", { id: "deal" }, `${money}`, event.length ? ` · ${event.join(" · ")}` : ""),
      h("dl", { class: "slots", id: "slots" }, slots.map(([k, v]) => [h("dt", {}, t(`slot_${k}`)), h("dd", {}, v ?? "—")])),
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

  // Owner and notes: who works this lead, and what the desk wrote about it (newest first).
  async function drawDesk(lead) {
    const writable = session.can("leads:write");
    const owner = h("input", { id: "owner", maxlength: 200, value: lead.owner ?? "", disabled: !writable });
    const save = guard(h("button", { type: "button", class: "secondary", onclick: async () => {
      try {
        const value = owner.value.trim();
        if (value) await api(`${path}/owner`, { method: "PUT", body: { owner: value } });
        else await api(`${path}/owner`, { method: "DELETE" });
        status.textContent = `${t("owner")}: ${value || "—"}`;
      } catch (error) { status.textContent = describe(error); }
    } }, t("save")), "leads:write");
    const text = h("textarea", { id: "note-text", maxlength: 2000, rows: 2, disabled: !writable });
    const add = guard(h("button", { type: "button", class: "secondary", onclick: async (e) => {
      const button = e.currentTarget; // null after the first await: the dispatch is over
      if (!text.value.trim()) return;
      button.disabled = true;
      try { await api(`${path}/notes`, { method: "POST", body: { text: text.value.trim() } }); text.value = ""; await drawNotes(); }
      catch (error) { status.textContent = describe(error); }
      button.disabled = false;
    } }, t("addNote")), "leads:write");
    const notes = h("ul", { id: "notes", class: "notes" });
    async function drawNotes() {
      const page = await api(`${path}/notes?limit=50`, { signal: ctx.signal });
      notes.replaceChildren(...page.items.map((n) => h("li", {}, n.text, h("div", { class: "meta" }, `${when(n.at, lang)} · ${n.by.name}`))));
    }
    fill(desk, h("h2", {}, t("owner")), h("div", { class: "row" }, h("label", { for: "owner" }, t("owner"), owner), save),
      h("h2", {}, t("notes")), h("div", { class: "row" }, h("label", { for: "note-text" }, t("note"), text), add),
      writable ? null : h("p", { class: "why" }, `${t("notAllowed")} leads:write`), notes);
    await drawNotes();
  }

  let contact = null; // the lead's external id: its messages name the contact, not the lead
  const concerns = (type, p) =>
    type === "reconnected" ||
    (type === "message.received" && p.lead_external_id === contact) ||
    (type === "message.sent" && contact !== null && digits(contact) === digits(p.to)) ||
    ((type.startsWith("lead.") || type.startsWith("contract.")) && p.lead_id === leadId);
  const reread = settling(refresh, ctx.signal);
  const unsubscribe = ctx.subscribe(({ type, event }) => {
    if (concerns(type, event?.payload ?? {})) reread();
  });
  ctx.signal.addEventListener("abort", unsubscribe);
  await refresh();
}

// message.sent names a number or a JID ("5511…@s.whatsapp.net"), the lead a contact id ("wa:+5511…").
const digits = (address) => String(address).split("@")[0].replace(/\D/g, "");

function entry(item) {
  const d = item.details;
  const author = d.author ?? (item.type === "message.sent" ? "agent" : "lead");
  const who = author === "lead" ? (d.contact_name ?? t("author_lead")) : t(`author_${author}`);
  const at = h("div", { class: "meta" }, `${when(item.at, lang)} · ${item.type.startsWith("message.") ? who : item.type}`);
  // A media entry: its kind as a label, and the caption (the message's text) under it.
  const media = d.media ? h("div", { class: "media" }, `${t("media")}: ${d.media}${d.mime_type ? ` (${d.mime_type})` : ""}`) : null;
  if (item.type.startsWith("message.")) {
    return h("li", { class: `${d.direction ?? (item.type === "message.sent" ? "out" : "in")} a-${author}` }, media, h("div", { class: "msg" }, messageText(d)), at);
  }
  const facts = Object.entries(d).filter(([, v]) => v !== null && typeof v !== "object").map(([k, v]) => `${k}: ${v}`);
  return h("li", { class: "fact" }, facts.join(" · "), at);
}

// The reply box: one Idempotency-Key per composed message, made when the box is emptied; a second click
// (or the browser retrying) sends the same key, so the API sends the message once.
function replyBox(leadId, status, sent) {
  const text = h("textarea", { id: "reply-text", rows: 3, maxlength: 4096, disabled: !session.can("leads:write") });
  const button = guard(h("button", { type: "submit", id: "reply-send" }, t("send")), "leads:write");
  let key = idempotencyKey();
  let inFlight = null;
  const form = h("form", { class: "reply", "aria-label": t("reply") },
    h("label", { for: "reply-text" }, t("reply"), text), button,
    session.can("leads:write") ? null : h("p", { class: "why", id: "reply-why" }, `${t("notAllowed")} leads:write`));
  text.addEventListener("input", () => { if (!inFlight) key = idempotencyKey(); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = text.value.trim();
    if (!body) return;
    const send = () => api(`/v1/leads/${encodeURIComponent(leadId)}/messages`, { method: "POST", body: { text: body }, headers: { "Idempotency-Key": key } });
    inFlight ??= send();
    try {
      const answer = await inFlight;
      text.value = "";
      key = idempotencyKey();
      status.textContent = answer.handed_off ? `${t("replySent")} · ${t("handedOff")}` : t("replySent");
      sent();
    } catch (error) {
      status.textContent = describe(error); // the same key is kept: sending again is a retry, not a second message
    } finally {
      inFlight = null;
    }
  });
  return form;
}

