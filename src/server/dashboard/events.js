/* global AbortController, fetch, TextDecoder, setTimeout, clearTimeout */
/**
 * `GET /api/events` read with fetch and a stream reader rather than EventSource: it sees the
 * response's status (a 401 is reported, not retried forever) and could send any header. The
 * stream is parsed as server-sent events and reopened after `retry` ms when it ends.
 */
import { reportUnauthorised, ApiError } from "./api.js";

const DEFAULT_RETRY_MS = 2000;

/**
 * Opens the event stream and keeps it open. `onEvent(type, data)` gets each event with its JSON
 * data; `onStatus(status, detail)` gets "connecting", "live", "reconnecting" or "stopped".
 * Returns a function that closes it.
 */
export function openEventStream({ onEvent, onStatus }) {
  const controller = new AbortController();
  const { signal } = controller;
  let retryMs = DEFAULT_RETRY_MS;

  const run = async () => {
    onStatus("connecting");
    while (!signal.aborted) {
      try {
        const response = await fetch("/api/events", {
          headers: { accept: "text/event-stream" },
          credentials: "same-origin",
          cache: "no-store",
          signal,
        });
        if (response.status === 401) {
          reportUnauthorised(new ApiError(401, "UNAUTHORIZED", "the event stream needs the token"));
          onStatus("stopped", "sign in to see live events");
          return;
        }
        if (!response.ok || !response.body) {
          throw new Error(`GET /api/events answered ${response.status} ${response.statusText}`);
        }
        onStatus("live");
        await readEvents(response.body, signal, (event) => {
          if (event.retry !== undefined) retryMs = event.retry;
          else onEvent(event.type, event.data);
        });
        if (!signal.aborted) onStatus("reconnecting", "the server ended the event stream");
      } catch (error) {
        if (signal.aborted) return;
        onStatus("reconnecting", error?.message ?? String(error));
      }
      await pause(retryMs, signal);
    }
  };
  void run();
  return () => {
    controller.abort();
    onStatus("stopped");
  };
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/**
 * Parses a text/event-stream body (the WHATWG rules: `field: value` lines, blank line ends an
 * event, `:` starts a comment) and calls `emit({ type, data })` per event with JSON data, or
 * `emit({ retry })` for a retry field.
 */
export async function readEvents(body, signal, emit) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const onAbort = () => void reader.cancel().catch(() => undefined);
  signal.addEventListener("abort", onAbort, { once: true });
  let buffer = "";
  let type = "";
  let data = [];
  const line = (text) => {
    if (text === "") {
      if (data.length > 0) {
        let parsed;
        try {
          parsed = JSON.parse(data.join("\n"));
        } catch {
          parsed = data.join("\n");
        }
        emit({ type: type || "message", data: parsed });
      }
      type = "";
      data = [];
      return;
    }
    if (text.startsWith(":")) return;
    const colon = text.indexOf(":");
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? "" : text.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") type = value;
    else if (field === "data") data.push(value);
    else if (field === "retry" && /^\d+$/.test(value)) emit({ retry: Number(value) });
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      // A "\r" at the end may be the first half of "\r\n": keep it for the next chunk.
      const end = buffer.endsWith("\r") ? buffer.length - 1 : buffer.length;
      const lines = buffer.slice(0, end).split(/\r\n|\r|\n/);
      buffer = lines.pop() + buffer.slice(end);
      for (const text of lines) line(text);
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
