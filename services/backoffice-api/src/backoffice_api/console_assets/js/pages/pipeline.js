// Pipeline: the company's deals as a board, one column per stage. A move reads the deal's ETag with the
// board and sends it as If-Match: a deal someone else moved since answers 412, shown as "reload" — never
// applied over their change. Lost asks for a reason (the API requires one).
import { api, describe, guard, query, session, settling } from "../api.js";
import { h } from "../dom.js";
import { lang, t } from "../i18n.js";

export const STAGES = ["new", "qualified", "proposal", "contract_sent", "won", "lost"];
// Where a deal may go next from each stage (the API's rule; the board offers only these).
const NEXT = {
  new: ["qualified"], qualified: ["proposal"], proposal: ["contract_sent"],
  contract_sent: ["won"], won: [], lost: [],
};

export function money(value, currency) {
  return value.toLocaleString(lang, { style: "currency", currency: currency ?? "BRL" });
}

export async function render(main, params, ctx) {
  const board = h("div", { class: "board", id: "board" });
  const status = h("p", { role: "status", "aria-live": "polite", class: "note", id: "pipeline-status" });
  main.append(h("h1", {}, t("pipeline")), status, board);

  async function load() {
    const deals = [];
    let cursor = null;
    do { // a board is a whole company's open pipeline: pages of 200, bounded at 5 pages
      const page = await api(`/v1/deals${query({ cursor, limit: 200 })}`, { signal: ctx.signal });
      deals.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor && deals.length < 1000);
    board.replaceChildren(...STAGES.map((stage) => {
      const mine = deals.filter((d) => d.stage === stage);
      return h("section", { class: "column", "aria-label": t(`stage_${stage}`), "data-stage": stage },
        h("h2", {}, `${t(`stage_${stage}`)} (${mine.length})`),
        h("ul", {}, mine.map(card)));
    }));
  }

  function card(deal) {
    const etag = `"v${deal.version}"`; // as read with the board: a later change makes the move a 412
    const moves = NEXT[deal.stage].map((stage) => guard(h("button", {
      type: "button", class: "secondary", onclick: (e) => move(e.currentTarget, deal, etag, { stage }),
    }, `→ ${t(`stage_${stage}`)}`), "deals:write"));
    const open = deal.stage !== "won" && deal.stage !== "lost";
    const reason = h("input", { "aria-label": t("lostReason"), maxlength: 500, placeholder: t("lostReason"), disabled: !session.can("deals:write") });
    const lost = open ? guard(h("button", { type: "button", class: "danger", onclick: (e) => {
      if (!reason.value.trim()) { status.textContent = t("lostNeedsReason"); reason.focus(); return; }
      move(e.currentTarget, deal, etag, { stage: "lost", reason: reason.value.trim() });
    } }, t("markLost")), "deals:write") : null;
    return h("li", { class: "card deal", "data-deal": deal.deal_id },
      h("a", { href: `#/deal/${encodeURIComponent(deal.deal_id)}` }, money(deal.value, deal.currency)),
      h("p", { class: "note" }, [deal.event?.type, deal.event?.date, deal.owner].filter(Boolean).join(" · ") || deal.lead_id),
      deal.lost_reason ? h("p", { class: "why" }, deal.lost_reason) : null,
      h("div", { class: "row" }, moves, open ? h("span", { class: "lost" }, reason, lost) : null),
      session.can("deals:write") ? null : h("p", { class: "why" }, `${t("notAllowed")} deals:write`));
  }

  async function move(button, deal, etag, body) {
    button.disabled = true;
    try {
      await api(`/v1/deals/${encodeURIComponent(deal.deal_id)}/stage`, { method: "PUT", body, headers: { "If-Match": etag } });
      status.textContent = `${t("moved")}: ${t(`stage_${body.stage}`)}`;
    } catch (error) {
      status.textContent = error.status === 412 ? t("staleEdit") : describe(error);
    }
    await load();
  }

  const reread = settling(load, ctx.signal);
  const unsubscribe = ctx.subscribe(({ type }) => {
    if (type === "reconnected" || type.startsWith("contract.")) reread();
  });
  ctx.signal.addEventListener("abort", unsubscribe);
  await load();
}
