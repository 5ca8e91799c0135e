// Instances: each WhatsApp number with the last status instance.status reported, refreshed live; connect
// shows the pairing QR code as an image (a data: URL from the API, which the CSP's img-src allows) and
// refresh asks evolution-manager to read the state again. Both need the `admin` scope.
import { api, describe, guard, session, settling } from "../api.js";
import { fill, h, when } from "../dom.js";
import { lang, t } from "../i18n.js";


export async function render(main, params, ctx) {
  const grid = h("div", { class: "cards" });
  const status = h("p", { role: "status", "aria-live": "polite", class: "note", id: "instances-status" });
  main.append(h("h1", {}, t("instances")), status, grid);
  async function refresh() {
    const { items } = await api("/v1/instances", { signal: ctx.signal });
    grid.replaceChildren(...items.map(card));
    if (!items.length) grid.append(h("p", {}, t("empty")));
  }

  function card(i) {
    const name = encodeURIComponent(i.name);
    const pairing = h("div", { class: "pairing", "aria-live": "polite" });
    const connect = guard(h("button", { type: "button", onclick: async (e) => {
      const button = e.currentTarget; // null after the first await: the dispatch is over
      button.disabled = true;
      try {
        const p = await api(`/v1/instances/${name}/connect`, { method: "POST" });
        // Only an image data: URL becomes an <img>; anything else would be an address the page does not load.
        const qr = typeof p.qr_code === "string" && /^data:image\/(png|jpeg|gif|svg\+xml);base64,/.test(p.qr_code) ? p.qr_code : null;
        fill(pairing,
          qr ? h("img", { src: qr, alt: `${t("qrFor")} ${i.name}`, class: "qr", width: 240, height: 240 }) : null,
          p.pairing_code ? h("p", {}, `${t("pairingCode")}: `, h("strong", {}, p.pairing_code)) : null,
          h("p", { class: "note" }, `${t("state")}: ${p.state}`, qr ? ` · ${t("qrHelp")}` : ""));
      } catch (error) { status.textContent = describe(error); }
      button.disabled = false;
    } }, t("connect")), "admin");
    const refreshOne = guard(h("button", { type: "button", class: "secondary", onclick: async (e) => {
      const button = e.currentTarget; // null after the first await: the dispatch is over
      button.disabled = true;
      try {
        const r = await api(`/v1/instances/${name}/refresh`, { method: "POST" });
        status.textContent = `${i.name}: ${r.state}${r.changed ? ` (${t("changed")})` : ""}`;
        await refresh();
      } catch (error) { status.textContent = describe(error); button.disabled = false; }
    } }, t("refresh")), "admin");
    const shown = i.last_status?.status ?? i.status;
    return h("section", { class: "card", "aria-label": i.name, "data-instance": i.name },
      h("h2", {}, i.name),
      h("p", {}, h("span", { class: `badge s-${shown}` }, shown ?? "—")),
      h("p", { class: "note" }, `${t("lastStatus")}: ${when(i.last_status?.at, lang)} · ${i.channel}`),
      h("div", { class: "row" }, connect, refreshOne),
      session.can("admin") ? null : h("p", { class: "why" }, `${t("notAllowed")} admin`),
      pairing);
  }
  const reread = settling(refresh, ctx.signal);
  const unsubscribe = ctx.subscribe(({ type }) => {
    if (type === "instance.status" || type === "reconnected") reread();
  });
  ctx.signal.addEventListener("abort", unsubscribe);
  await refresh();
}
