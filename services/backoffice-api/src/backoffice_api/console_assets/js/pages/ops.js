// Operations: consumer groups with lag (platform:admin only: their numbers mix every company) and this
// company's dead letters per channel and group, each replayed or purged after a confirmation; and the side
// effects whose outcome is unknown (sent or not?), each waiting for an operator's decision: delivered or resend.
import { api, describe, query, session } from "../api.js";
import { confirmAction, h, when } from "../dom.js";
import { lang, t } from "../i18n.js";

// The catalog's consumers: each channel → the groups that read it (contracts/, docs/catalog.md).
const CONSUMERS = {
  "message.received": ["agent-runtime"],
  "message.sent": ["evolution-manager"],
  "lead.created": ["facebook-capi", "backoffice-api"],
  "lead.qualified": ["backoffice-api", "facebook-capi"],
  "contract.created": ["backoffice-api"],
  "contract.signed": ["facebook-capi", "backoffice-api"],
  "instance.status": ["backoffice-api"],
};

export async function render(main, params, ctx) {
  const groups = h("div");
  const letters = h("tbody", { id: "dead-letters" });
  const status = h("p", { role: "status", "aria-live": "polite", class: "note" });
  const pair = h("select", { id: "dl-group" },
    Object.entries(CONSUMERS).flatMap(([channel, names]) => names.map((g) => h("option", { value: `${channel}|${g}` }, `${channel} → ${g}`))));
  pair.addEventListener("change", () => loadLetters().catch((e) => { status.textContent = describe(e); }));
  const unknown = h("section", { id: "unknown-outcomes", "aria-label": t("unknownOutcomes") });
  main.append(h("h1", {}, t("ops")), groups, unknown, h("h2", {}, t("deadLetters")),
    h("div", { class: "toolbar" }, h("label", { for: "dl-group" }, `${t("channel")} → ${t("group")}`, pair)), status,
    h("table", {}, h("thead", {}, h("tr", {}, ["", t("attempts"), t("reason"), t("error"), ""].map((c) => h("th", { scope: "col" }, c)))), letters));

  if (session.can("platform:admin")) {
    const { items } = await api("/v1/ops/groups", { signal: ctx.signal });
    groups.append(h("h2", {}, t("consumers")), h("table", {},
      h("thead", {}, h("tr", {}, [t("channel"), t("group"), t("consumers"), t("pending"), t("lag"), t("deadLetters")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, items.map((g) => h("tr", {}, [g.channel, g.group, g.consumers, g.pending, g.lag ?? "—", g.dead_letters].map((v) => h("td", {}, v)))))));
  } else {
    groups.append(h("p", { class: "why" }, `${t("consumers")}: ${t("notAllowed")} platform:admin`));
  }

  async function loadUnknown() {
    const page = await api("/v1/ops/outcomes", { signal: ctx.signal });
    const decide = (o, decision, question) => {
      const button = h("button", { type: "button", class: decision === "resend" ? "danger" : "secondary" }, t(`decide_${decision}`));
      button.addEventListener("click", async () => {
        if (!(await confirmAction(question, t("yes"), t("no")))) return;
        button.disabled = true;
        const path = [o.service, o.effect, o.id].map(encodeURIComponent).join("/");
        try {
          await api(`/v1/ops/outcomes/${path}/resolve`, { method: "POST", body: { decision } });
          status.textContent = `${t("decided")}: ${t(`decide_${decision}`)}`;
          await loadUnknown();
        } catch (error) { status.textContent = describe(error); button.disabled = false; }
      });
      return button;
    };
    unknown.replaceChildren(h("h2", {}, t("unknownOutcomes")),
      page.unavailable.length ? h("p", { class: "why" }, `${t("unavailable")}: ${page.unavailable.join(", ")}`) : null,
      page.items.length ? h("table", {},
        h("thead", {}, h("tr", {}, [t("when"), t("service"), t("effect"), t("channel"), t("answer"), ""].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, page.items.map((o) => h("tr", {},
          h("td", {}, when(new Date(o.at * 1000).toISOString(), lang)), h("td", {}, o.service), h("td", {}, o.effect),
          h("td", {}, o.channel), h("td", { class: "msg" }, o.answer),
          h("td", {}, decide(o, "delivered", t("confirmDelivered")), " ", decide(o, "resend", t("confirmResend"))))))) :
        h("p", { class: "note" }, t("noUnknown")));
  }
  await loadUnknown().catch((error) => unknown.replaceChildren(h("p", { class: "error" }, describe(error))));

  async function loadLetters() {
    const [channel, group] = pair.value.split("|");
    const base = `/v1/ops/dead-letters/${encodeURIComponent(channel)}/${encodeURIComponent(group)}`;
    const page = await api(`${base}${query({ limit: 50 })}`, { signal: ctx.signal });
    letters.replaceChildren(...page.items.map((letter) => {
      const act = (label, question, method, suffix, done) => {
        const button = h("button", { type: "button", class: method === "DELETE" ? "danger" : "secondary" }, label);
        button.addEventListener("click", async () => {
          if (!(await confirmAction(question, t("yes"), t("no")))) return;
          button.disabled = true;
          try {
            const answer = await api(`${base}/${encodeURIComponent(letter.id)}${suffix}`, { method });
            status.textContent = `${done}: ${answer.replayed ?? answer.purged}`;
            await loadLetters();
          } catch (error) {
            status.textContent = describe(error);
            button.disabled = false;
          }
        });
        return button;
      };
      return h("tr", {},
        h("td", {}, when(letter.dead_lettered_at, lang)),
        h("td", {}, letter.attempts),
        h("td", {}, letter.reason),
        h("td", { class: "msg" }, letter.error),
        h("td", {}, act(t("replay"), t("confirmReplay"), "POST", "/replay", t("replayed")), " ",
          act(t("purge"), t("confirmPurge"), "DELETE", "", t("purged"))));
    }));
    if (!page.items.length) letters.append(h("tr", {}, h("td", { colspan: 5 }, t("empty"))));
  }
  await loadLetters();
}
