// Contracts (deals as far as the API lists them today: GET /v1/contracts, one deal by id).
// The pipeline board becomes its own page in app.js's PAGES when GET /v1/deals lands.
import { api, query } from "../api.js";
import { h, when } from "../dom.js";
import { lang, t } from "../i18n.js";


export async function render(main, params, ctx) {
  const body = h("tbody");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, t("more"));
  let cursor = null;
  main.append(h("h1", {}, t("contracts")),
    h("table", {}, h("thead", {}, h("tr", {}, [t("created"), t("deal"), t("status"), t("value"), t("signers")].map((c) => h("th", { scope: "col" }, c)))), body),
    more);
  async function load() {
    const page = await api(`/v1/contracts${query({ cursor, limit: 50 })}`, { signal: ctx.signal });
    for (const c of page.items) {
      body.append(h("tr", {},
        h("td", {}, when(c.created_at, lang)),
        h("td", {}, c.lead_id ? h("a", { href: `#/lead/${encodeURIComponent(c.lead_id)}` }, c.deal_id) : c.deal_id),
        h("td", {}, h("span", { class: `badge s-${c.status}` }, c.status)),
        h("td", {}, c.value === null ? "—" : c.value.toLocaleString(lang, { style: "currency", currency: c.currency ?? "BRL" })),
        h("td", {}, `${c.progress.signed}/${c.progress.total}`)));
    }
    if (!body.children.length) body.append(h("tr", {}, h("td", { colspan: 5 }, t("empty"))));
    cursor = page.next_cursor;
    more.hidden = !cursor;
  }
  more.addEventListener("click", load);
  await load();
}
