// The one way the console reads and writes: the /v1 API with the operator's key in X-API-Key.
// The key lives in sessionStorage (this tab only, gone when it closes): never in a URL, a cookie or a log.
import { t } from "./i18n.js";

const KEY = "wb.apiKey";

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); },
  me: null, // GET /v1/me: company and scopes
  can(scope) { return Boolean(this.me?.scopes.includes(scope)); },
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// `headers` adds Idempotency-Key or If-Match; `withEtag` answers { data, etag } (a deal read before a move).
export async function api(path, { method = "GET", body, signal, headers: extra = {}, withEtag = false } = {}) {
  const headers = { ...extra, "X-API-Key": session.key ?? "", Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, signal, credentials: "omit", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.error?.message ?? response.statusText);
  return withEtag ? { data, etag: response.headers.get("ETag") } : data;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) search.set(name, value);
  const text = search.toString();
  return text ? `?${text}` : "";
}

export function describe(error) {
  return error instanceof ApiError ? `${t("error")} ${error.status}: ${error.message}` : String(error.message ?? error);
}

// One key per composed action: a second click (or a retry) repeats the same request, which the API answers once.
export function idempotencyKey() {
  // getRandomValues, not randomUUID: the latter exists only in secure contexts (a plain-http LAN console is not).
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `console-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// A button whose scope the key lacks: disabled, with the reason beside it (and as its description).
export function guard(button, scope) {
  if (session.can(scope)) return button;
  button.disabled = true;
  button.title = `${t("notAllowed")} ${scope}`;
  return button;
}

// A live event can arrive before backoffice-api's projection has applied it: the stream and the read models
// are fed by separate readers of the same channel. A page re-reads at once and once more shortly after
// (several events in a burst share that second read), so what it shows settles on the projected state.
export function settling(refresh, signal, afterMs = 1500) {
  let later = null;
  return () => {
    refresh().catch(() => {});
    clearTimeout(later);
    later = setTimeout(() => { if (!signal.aborted) refresh().catch(() => {}); }, afterMs);
  };
}
