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

export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { "X-API-Key": session.key ?? "", Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method, headers, signal, credentials: "omit", cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.error?.message ?? response.statusText);
  return data;
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
