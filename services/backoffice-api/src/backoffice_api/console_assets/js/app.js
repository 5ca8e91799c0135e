// The console's shell: sign in, the menu (pages the key's scopes allow; the others say why), the hash
// router and the one live event stream. A page is a module listed in PAGES with the scope it needs; the ones
// outside MENU open from another page (a lead from the inbox, a deal from the pipeline). The inbox, the first
// page, is imported with the shell; the others load when first shown, so the first page fetches none of them.
import { api, describe, session } from "./api.js";
import { clear, h } from "./dom.js";
import { lang, setLang, t } from "./i18n.js";
import { openStream } from "./sse.js";
import * as inbox from "./pages/inbox.js";

// name → module with { scope, render(main, params, ctx) }; `menu: false` pages open from another page.
const PAGES = {
  inbox: { scope: "leads:read", load: async () => inbox },
  lead: { scope: "leads:read", load: () => import("./pages/conversation.js") },
  pipeline: { scope: "deals:read", load: () => import("./pages/pipeline.js") },
  deal: { scope: "deals:read", load: () => import("./pages/deal.js") },
  contracts: { scope: "contracts:read", load: () => import("./pages/contracts.js") },
  instances: { scope: "instances:read", load: () => import("./pages/instances.js") },
  ops: { scope: "ops:admin", load: () => import("./pages/ops.js") },
  metrics: { scope: "metrics:read", load: () => import("./pages/metrics.js") },
};
const MENU = ["inbox", "pipeline", "contracts", "instances", "ops", "metrics"];
const PARENT = { lead: "inbox", deal: "pipeline" };

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const liveBadge = document.getElementById("live");
const listeners = new Set();
let streamControl = null;
let pageControl = null;

export const ctx = {
  // Pages subscribe to live events while shown; `reconnected` tells them to re-read (catch up).
  subscribe(listener) { listeners.add(listener); return () => listeners.delete(listener); },
};

function route() {
  const [name = "inbox", ...params] = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  return { name: name in PAGES ? name : "inbox", params: params.map(decodeURIComponent) };
}

function renderNav(current) {
  clear(nav);
  for (const name of MENU) {
    const page = PAGES[name];
    const allowed = session.can(page.scope);
    nav.append(h("a", {
      href: `#/${name}`, "aria-current": name === current ? "page" : undefined,
      class: allowed ? undefined : "denied",
      title: allowed ? undefined : `${t("notAllowed")} ${page.scope}`,
    }, t(name)));
  }
}

async function show() {
  if (!session.me) return;
  pageControl?.abort();
  pageControl = new AbortController();
  const { name, params } = route();
  const page = PAGES[name];
  renderNav(PARENT[name] ?? name);
  clear(main);
  delete main.dataset.ready;
  if (!session.can(page.scope)) {
    main.append(h("h1", {}, t(name)), h("p", { class: "why", role: "note" }, `${t("notAllowed")} ${page.scope}.`));
    return;
  }
  try {
    const signal = pageControl.signal;
    const module = await page.load();
    if (signal.aborted) return; // another page was asked for while this one loaded
    await module.render(main, params, { ...ctx, signal });
    main.dataset.ready = name; // the page's data is drawn (tests and the benchmark wait for this)
  } catch (error) {
    if (error.name === "AbortError") return;
    main.append(h("p", { class: "error", role: "alert" }, describe(error)));
  }
}

function startStream() {
  streamControl?.abort();
  if (!session.can("events:read")) {
    liveBadge.textContent = t("liveDenied");
    liveBadge.title = `${t("notAllowed")} events:read`;
    return;
  }
  streamControl = new AbortController();
  openStream("/v1/events/stream", {
    signal: streamControl.signal,
    onEvent: (type, event) => listeners.forEach((listener) => listener({ type, event })),
    onState: (state) => {
      liveBadge.className = state === "live" ? "live on" : "live off";
      liveBadge.textContent = t(state === "live" ? "live" : state === "denied" ? "liveDenied" : "reconnecting");
      // Every time the stream is live, the first time too: what was published between the page's first read
      // and the stream's subscription reached neither (seen on a Redis Cluster, where subscribing is slower).
      if (state === "live") listeners.forEach((listener) => listener({ type: "reconnected" }));
    },
  });
}

function signInForm(message) {
  nav.replaceChildren();
  liveBadge.textContent = "";
  document.getElementById("sign-out").hidden = true;
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", required: true, "aria-describedby": "key-help" });
  const form = h("form", { class: "signin", "aria-labelledby": "signin-title" },
    h("h1", { id: "signin-title" }, t("signIn")),
    h("label", { for: "api-key" }, t("apiKey"), input),
    h("p", { id: "key-help", class: "note" }, t("keyHelp")),
    message ? h("p", { class: "error", role: "alert" }, message) : null,
    h("button", { type: "submit" }, t("signIn")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    session.key = input.value.trim();
    await start();
  });
  clear(main).append(form);
  input.focus();
}

async function start() {
  if (!session.key) return signInForm();
  try {
    session.me = await api("/v1/me");
  } catch (error) {
    session.key = null;
    session.me = null;
    return signInForm(`${t("badKey")}: ${describe(error)}`);
  }
  const signOut = document.getElementById("sign-out");
  signOut.hidden = false;
  signOut.textContent = `${t("signOut")} (${session.me.company_id})`;
  startStream();
  await show();
}

function applyLang() {
  document.querySelector(".skip").textContent = t("skip");
  document.getElementById("lang-label").textContent = t("lang");
}

const select = document.getElementById("lang");
select.value = lang;
select.addEventListener("change", () => { setLang(select.value); applyLang(); session.me ? start() : signInForm(); });
document.getElementById("sign-out").addEventListener("click", () => {
  streamControl?.abort();
  pageControl?.abort();
  session.key = null;
  session.me = null;
  signInForm();
});
window.addEventListener("hashchange", () => { show(); main.focus(); });
setLang(lang);
applyLang();
start();
