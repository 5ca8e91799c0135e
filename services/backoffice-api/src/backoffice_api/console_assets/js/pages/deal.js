// Deal: value and event, the stage history, the contract (send, remind, cancel, signers' progress, the
// signed PDF link) and what facebook-capi reported to Meta for it, with each outcome.
import { api, describe, guard, idempotencyKey, session, settling } from "../api.js";
import { confirmAction, fill, h, when } from "../dom.js";
import { lang, t } from "../i18n.js";
import { money } from "./pipeline.js";


export async function render(main, [dealId], ctx) {
  const path = `/v1/deals/${encodeURIComponent(dealId)}`;
  const summary = h("div", { class: "card", id: "deal-summary" });
  const history = h("ol", { class: "history", id: "stage-history" });
  const contract = h("section", { class: "card", id: "deal-contract", "aria-label": t("contract") });
  const reported = h("section", { id: "deal-conversions", "aria-label": t("reported") });
  const status = h("p", { role: "status", "aria-live": "polite", class: "note", id: "deal-status" });
  main.append(h("p", {}, h("a", { href: "#/pipeline" }, `← ${t("pipeline")}`)), h("h1", {}, t("deal")),
    status, summary, h("h2", {}, t("history")), history, contract, reported);
  // One Idempotency-Key per contract the operator composes: a double click asks autentique-service once.
  let sendKey = idempotencyKey();

  async function refresh() {
    const deal = await api(path, { signal: ctx.signal });
    fill(summary,
      h("p", { id: "deal-value" }, h("strong", {}, money(deal.value, deal.currency)), " · ",
        h("span", { class: `badge s-${deal.stage}`, id: "deal-stage" }, t(`stage_${deal.stage}`))),
      h("p", { class: "note" }, [deal.event?.type, deal.event?.date, deal.event?.guests, deal.event?.location]
        .filter((v) => v !== null && v !== undefined).join(" · ")),
      h("p", {}, h("a", { href: `#/lead/${encodeURIComponent(deal.lead_id)}` }, t("conversation")),
        deal.owner ? ` · ${t("owner")}: ${deal.owner}` : ""),
      deal.lost_reason ? h("p", { class: "why" }, `${t("lostReason")}: ${deal.lost_reason}`) : null);
    history.replaceChildren(...(deal.history ?? []).map((c) => h("li", {},
      `${when(c.at, lang)} · ${c.previous ? `${t(`stage_${c.previous}`)} → ` : ""}${t(`stage_${c.stage}`)}`,
      c.by ? ` · ${c.by.name ?? c.by.type ?? ""}` : "", c.reason ? ` · ${c.reason}` : "")));
    await drawContract(deal);
    await drawConversions();
  }

  async function drawContract(deal) {
    if (!session.can("contracts:read")) return fill(contract, h("h2", {}, t("contract")), h("p", { class: "why" }, `${t("notAllowed")} contracts:read`));
    if (!deal.contract_id) return fill(contract, h("h2", {}, t("contract")), sendForm(deal));
    const c = await api(`/v1/contracts/${encodeURIComponent(deal.contract_id)}`, { signal: ctx.signal });
    const open = ["pending", "creating", "sent"].includes(c.status);
    const act = (label, question, run, cls = "secondary") => guard(h("button", { type: "button", class: cls, disabled: !open, onclick: async (e) => {
      const button = e.currentTarget; // null after the first await: the dispatch is over
      if (question && !(await confirmAction(question, t("yes"), t("no")))) return;
      button.disabled = true;
      try { status.textContent = await run(); } catch (error) { status.textContent = describe(error); }
      await refresh();
    } }, label), "contracts:write");
    const remindKey = idempotencyKey();
    const base = `/v1/contracts/${encodeURIComponent(c.contract_id)}`;
    fill(contract, h("h2", {}, t("contract")),
      h("p", { id: "contract-status" }, h("span", { class: `badge s-${c.status}` }, c.status), ` · ${t("signers")} ${c.progress.signed}/${c.progress.total}`),
      h("ul", { class: "signers" }, c.signers.map((s) => h("li", {}, s.name, ` · ${s.status ?? "—"}`, s.signed_at ? ` · ${when(s.signed_at, lang)}` : ""))),
      c.status === "signed" ? h("p", {}, pdfButton(base)) : null,
      h("div", { class: "row" },
        act(t("remind"), null, async () => {
          const r = await api(`${base}/reminders`, { method: "POST", headers: { "Idempotency-Key": remindKey } });
          return `${t("reminded")}: ${r.signers}`;
        }),
        act(t("cancelContract"), t("confirmCancel"), async () => {
          await api(`${base}/cancel`, { method: "POST" });
          return t("cancelled");
        }, "danger")),
      session.can("contracts:write") ? null : h("p", { class: "why" }, `${t("notAllowed")} contracts:write`));
  }

  // The signed PDF's address is short-lived: asked for on click, then kept for this page view only (a re-read
  // of the deal draws the link again with it), never stored.
  let pdfUrl = null;
  function pdfButton(base) {
    const link = h("a", { id: "signed-pdf", href: pdfUrl ?? "#", target: "_blank", rel: "noopener noreferrer" }, t("signedPdf"));
    link.addEventListener("click", async (event) => {
      if (pdfUrl) return;
      event.preventDefault();
      try {
        const { url } = await api(`${base}/signed-pdf`);
        if (!/^https:\/\//.test(url)) throw new Error(t("badLink"));
        pdfUrl = url;
        document.getElementById("signed-pdf")?.setAttribute("href", url); // the link now on the page
        status.textContent = t("pdfReady");
      } catch (error) { status.textContent = describe(error); }
    });
    return link;
  }

  function sendForm(deal) {
    const name = h("input", { id: "signer-name", required: true, maxlength: 200 });
    const email = h("input", { id: "signer-email", type: "email", maxlength: 320 });
    const delivery = h("select", { id: "signer-delivery" }, ["email", "whatsapp", "link"].map((d) => h("option", { value: d }, d)));
    const button = guard(h("button", { type: "submit" }, t("sendContract")), "contracts:write");
    const form = h("form", { class: "row", "aria-label": t("sendContract") },
      h("label", { for: "signer-name" }, t("signerName"), name),
      h("label", { for: "signer-email" }, "E-mail", email),
      h("label", { for: "signer-delivery" }, t("delivery"), delivery), button,
      session.can("contracts:write") ? null : h("span", { class: "why" }, `${t("notAllowed")} contracts:write`));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      const signer = { name: name.value.trim(), email: email.value.trim() || null, delivery: delivery.value };
      try {
        await api(`${path}/contract`, { method: "POST", body: { signers: [signer] }, headers: { "Idempotency-Key": sendKey } });
        sendKey = idempotencyKey();
        status.textContent = t("contractSent");
      } catch (error) { status.textContent = describe(error); button.disabled = false; return; }
      await refresh();
    });
    return form;
  }

  async function drawConversions() {
    const { items } = await api(`${path}/conversions`, { signal: ctx.signal });
    fill(reported, h("h2", {}, t("reported")), items.length ? h("table", {},
      h("thead", {}, h("tr", {}, [t("event"), t("outcome"), t("value"), t("when")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, items.map((c) => h("tr", {},
        h("td", {}, c.event_name ?? c.source_type),
        h("td", {}, h("span", { class: `badge o-${c.outcome}` }, c.outcome), c.reason ? ` · ${c.reason}` : ""),
        h("td", {}, c.value === null ? "—" : money(c.value, c.currency)),
        h("td", {}, when(c.reported_at, lang)))))) : h("p", { class: "note" }, t("empty")));
  }

  const reread = settling(refresh, ctx.signal);
  const unsubscribe = ctx.subscribe(({ type, event }) => {
    const p = event?.payload ?? {};
    if (type === "reconnected" || p.deal_id === dealId || type === "conversion.reported") reread();
  });
  ctx.signal.addEventListener("abort", unsubscribe);
  await refresh();
}
