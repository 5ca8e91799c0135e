// Inbox: leads newest first, filtered as GET /v1/leads allows (status, source), searched by phone or name
// (GET /v1/leads/search, /v1/leads/search/name), with owner and unread marks (unread.js), updated live.
import { api, describe, query } from "../api.js";
import { isUnread } from "../unread.js";
import { clear, h, when } from "../dom.js";
import { lang, t } from "../i18n.js";

const STATUSES = ["new", "qualified", "contract_sent", "won", "lost"];
const SOURCES = ["ads", "organic", "referral", "unknown"];
const PAGE = 50;

export async function render(main, params, ctx) {
  const filters = { status: "", source: "" };
  const body = h("tbody", { id: "inbox-rows" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, t("more"));
  const rows = new Map(); // lead_id → <tr>
  let cursor = null;

  const select = (name, values, label) => {
    const control = h("select", { id: `filter-${name}`, name },
      h("option", { value: "" }, t("all")), values.map((v) => h("option", { value: v }, v)));
    control.addEventListener("change", () => { filters[name] = control.value; reload(); });
    return h("label", { for: `filter-${name}` }, label, control);
  };

  // One box: a number goes to GET /v1/leads/search (one lookup), words to GET /v1/leads/search/name (word prefixes).
  const term = h("input", { id: "search-term", type: "search", maxlength: 100, placeholder: "+55 11 99999-0000 · Maria" });
  const found = h("ul", { id: "search-result", class: "found", "aria-live": "polite" });
  const search = h("form", { class: "row", role: "search", "aria-label": t("search") },
    h("label", { for: "search-term" }, t("searchTerm"), term), h("button", { type: "submit", class: "secondary" }, t("search")));
  const link = (lead, label) => h("li", {}, h("a", { href: `#/lead/${encodeURIComponent(lead.lead_id)}` }, label));
  search.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = term.value.trim();
    if (!text) return;
    found.replaceChildren();
    try {
      if (/^\+?[0-9][0-9 ().-]{5,24}$/.test(text)) {
        const lead = await api(`/v1/leads/search${query({ phone: text })}`, { signal: ctx.signal });
        found.append(link(lead, `${lead.external_id ?? lead.lead_id} · ${lead.status}`));
      } else {
        const { items } = await api(`/v1/leads/search/name${query({ q: text })}`, { signal: ctx.signal });
        found.append(...items.map((match) => link(match, `${match.matched_name} · ${match.external_id ?? match.lead_id}`)));
        if (!items.length) found.append(h("li", {}, t("notFound")));
      }
    } catch (error) {
      found.append(h("li", {}, error.status === 404 ? t("notFound") : describe(error)));
    }
  });

  main.append(
    h("h1", {}, t("inbox")),
    search, found,
    h("div", { class: "toolbar" }, select("status", STATUSES, t("status")), select("source", SOURCES, t("source"))),
    h("table", { class: "leads" },
      h("thead", {}, h("tr", {}, [t("created"), t("lead"), t("status"), t("source"), t("owner"), t("lastMessage")].map((c) => h("th", { scope: "col" }, c)))),
      body),
    more);

  // Leads that arrived live while a re-read was in flight: its answer may predate them, so they are kept.
  let arrivals = null;
  async function load(reset) {
    const arrived = reset ? (arrivals = new Map()) : null;
    const page = await api(`/v1/leads${query({ ...filters, cursor: reset ? null : cursor, limit: PAGE })}`, { signal: ctx.signal });
    if (reset) { clear(body); rows.clear(); }
    for (const lead of page.items) upsert(lead, false);
    if (arrived) {
      const listed = new Set(page.items.map((lead) => lead.lead_id));
      for (const [id, lead] of arrived) if (!listed.has(id)) upsert(lead, true);
      if (arrivals === arrived) arrivals = null;
    }
    if (reset && !page.items.length) body.append(h("tr", {}, h("td", { colspan: 6 }, t("empty"))));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  }
  const reload = () => load(true);
  more.addEventListener("click", () => load(false));

  function upsert(lead, fresh) {
    const unread = isUnread(lead);
    const row = h("tr", { "data-lead": lead.lead_id, class: [fresh ? "fresh" : "", unread ? "unread" : ""].join(" ").trim() || undefined },
      h("td", {}, when(lead.created_at, lang)),
      h("td", {}, h("a", { href: `#/lead/${encodeURIComponent(lead.lead_id)}` }, lead.external_id ?? lead.lead_id),
        unread ? h("span", { class: "dot", title: t("unread") }, h("span", { class: "sr-only" }, t("unread"))) : null),
      h("td", {}, h("span", { class: `badge s-${lead.status}` }, lead.status),
        lead.handoff?.active ? h("span", { class: "note" }, ` · ${t("handedOff")}`) : null),
      h("td", {}, t(`source_${lead.source}`)),
      h("td", { class: "owner" }, lead.owner ?? "—"),
      h("td", { class: "msg" }, lead.last_message ? lead.last_message.text ?? "" : rows.get(lead.lead_id)?.lastElementChild.textContent ?? ""));
    const existing = rows.get(lead.lead_id);
    body.querySelector("tr:not([data-lead])")?.remove(); // "nothing here" no longer holds
    if (existing) existing.replaceWith(row);
    else if (fresh) body.prepend(row);
    else body.append(row);
    rows.set(lead.lead_id, row);
  }

  // A lead's first message is published (by evolution-manager) before the lead is (by agent-runtime, which
  // reads it): kept here by sender until its lead.created arrives, so the new row shows it, unread. Bounded.
  const early = new Map(); // lead_external_id → last_message
  const EARLY = 200;

  const unsubscribe = ctx.subscribe(({ type, event }) => {
    if (type === "reconnected") return reload();
    if (type === "lead.created") {
      const p = event.payload;
      if ((filters.status && filters.status !== "new") || (filters.source && filters.source !== p.source)) return;
      const lead = { lead_id: p.lead_id, external_id: p.lead_external_id, status: "new", source: p.source,
        created_at: event.occurred_at, handoff: null, last_message: early.get(p.lead_external_id) };
      early.delete(p.lead_external_id);
      arrivals?.set(lead.lead_id, lead);
      upsert(lead, true);
    } else if (type === "lead.qualified") {
      const row = rows.get(event.payload.lead_id);
      if (row) { row.children[2].firstChild.textContent = "qualified"; row.classList.add("fresh"); }
    } else if (type === "message.received") {
      const p = event.payload;
      let shown = false;
      for (const row of rows.values()) {
        if (row.children[1].firstChild.textContent === event.payload.lead_external_id) {
          row.lastElementChild.textContent = event.payload.body ?? event.payload.media?.type ?? "";
          row.classList.add("fresh");
          if (!event.payload.from_me && !row.classList.contains("unread")) {
            row.classList.add("unread");
            row.children[1].append(h("span", { class: "dot", title: t("unread") }, h("span", { class: "sr-only" }, t("unread"))));
          }
          body.prepend(row);
          shown = true;
        }
      }
      if (!shown && p.lead_external_id) {
        early.delete(p.lead_external_id); // re-inserted last: the oldest fall off first
        early.set(p.lead_external_id, { text: p.body ?? p.media?.type ?? "", direction: p.from_me ? "out" : "in", at: event.occurred_at });
        if (early.size > EARLY) early.delete(early.keys().next().value);
      }
    }
  });
  ctx.signal.addEventListener("abort", unsubscribe);
  await reload();
}

export function messageText(details) {
  return details.text ?? (details.texts ?? []).join(" ") ?? "";
}
