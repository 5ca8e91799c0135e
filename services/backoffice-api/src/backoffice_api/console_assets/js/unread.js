// Unread marks, kept per browser session (sessionStorage, like the key; not per key on the server): lead id →
// when this tab last opened its conversation. A lead whose last message came in after that (or which was
// never opened) is unread. Bounded: the 2,000 most recently opened leads are remembered.
const SEEN = "wb.seen";
const LIMIT = 2000;

let cache = { text: null, seen: {} }; // parsed once per change, not once per inbox row
function read() {
  const text = sessionStorage.getItem(SEEN) ?? "{}";
  if (text !== cache.text) {
    try { cache = { text, seen: JSON.parse(text) }; } catch { cache = { text, seen: {} }; }
  }
  return cache.seen; // read-only: markRead copies it
}

export function isUnread(lead) {
  const last = lead.last_message;
  if (!last || last.direction !== "in") return false;
  const seen = read()[lead.lead_id];
  return !seen || new Date(last.at) > new Date(seen);
}

export function markRead(leadId) {
  const seen = { ...read() };
  delete seen[leadId]; // re-inserted last: the oldest opened fall off first
  seen[leadId] = new Date().toISOString();
  const ids = Object.keys(seen);
  for (const id of ids.slice(0, Math.max(0, ids.length - LIMIT))) delete seen[id];
  sessionStorage.setItem(SEEN, JSON.stringify(seen));
}
