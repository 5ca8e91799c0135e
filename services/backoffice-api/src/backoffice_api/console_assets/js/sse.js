// A Server-Sent Events reader over fetch: EventSource cannot send the X-API-Key header.
// The server's stream is at most once, so after a dropped connection the reader reconnects with backoff
// and tells the page (onState "live" again), which re-reads what it shows to catch up.
import { session } from "./api.js";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function openStream(path, { onEvent, onState, signal }) {
  (async () => {
    let delay = 500;
    while (!signal.aborted) {
      try {
        const response = await fetch(path, {
          headers: { "X-API-Key": session.key ?? "", Accept: "text/event-stream" },
          credentials: "omit", cache: "no-store", signal,
        });
        if (response.status === 401 || response.status === 403) {
          onState("denied");
          return;
        }
        if (!response.ok || !response.body) throw new Error(String(response.status));
        onState("live");
        delay = 500;
        await readFrames(response.body, onEvent);
      } catch (error) {
        if (signal.aborted) return;
      }
      onState("reconnecting");
      await sleep(delay);
      delay = Math.min(delay * 2, 15000);
    }
  })();
}

async function readFrames(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (frame.data) onEvent(frame.event ?? "message", JSON.parse(frame.data));
    }
  }
}

function parse(text) {
  const frame = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith(":")) continue; // comments: connected, keep-alive, closing
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
    else if (field === "event" || field === "id") frame[field] = value;
  }
  return frame;
}
