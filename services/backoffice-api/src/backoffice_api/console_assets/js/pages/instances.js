// Instances: each WhatsApp number with the last status instance.status reported, refreshed live.
import { api } from "../api.js";
import { h, when } from "../dom.js";
import { lang, t } from "../i18n.js";

export const scope = "instances:read";

export async function render(main, params, ctx) {
  const grid = h("div", { class: "cards" });
  main.append(h("h1", {}, t("instances")), grid);
  async function refresh() {
    const { items } = await api("/v1/instances", { signal: ctx.signal });
    grid.replaceChildren(...items.map((i) => h("section", { class: "card", "aria-label": i.name },
      h("h2", {}, i.name),
      h("p", {}, h("span", { class: `badge s-${i.last_status?.status ?? i.status}` }, i.last_status?.status ?? i.status ?? "—")),
      h("p", { class: "note" }, `${t("lastStatus")}: ${when(i.last_status?.at, lang)} · ${i.channel}`))));
    if (!items.length) grid.append(h("p", {}, t("empty")));
  }
  const unsubscribe = ctx.subscribe(({ type }) => {
    if (type === "instance.status" || type === "reconnected") refresh().catch(() => {});
  });
  ctx.signal.addEventListener("abort", unsubscribe);
  await refresh();
}
