import type { DoneNotice, ReadyNotice } from "../notify/listener.js";
import type { Runtime } from "../runtime.js";

/** How often the `rate` event summarises the last second. */
const RATE_INTERVAL_MS = 1000;
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;

interface Window {
  ready: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Wake-up latencies of the claims this process made. */
  latencies: number[];
}

const emptyWindow = (): Window => ({
  ready: 0,
  completed: 0,
  failed: 0,
  cancelled: 0,
  latencies: [],
});

function percentile(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/**
 * `GET /api/events`: server-sent events of job changes, from the notifications this process's
 * listener receives anyway (no extra query):
 *
 * - `ready` `{ queue, ready }`: jobs became runnable (sent, retried, due);
 * - `done` `{ queue, state, ids }`: jobs finished (completed, failed for good, cancelled);
 * - `rate` every second `{ at, ready, completed, failed, cancelled, wakeLatencyMs }`: the last
 *   second's counts for the whole schema, and the wake-up latency (ready → claimed, database
 *   clock) of the claims this process made (its workers and its HTTP remote workers).
 *
 * Nothing is listened to or timed while no stream is open.
 */
export class EventStream {
  private readonly streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
  private window = emptyWindow();
  private rateTimer: NodeJS.Timeout | undefined;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private readonly encoder = new TextEncoder();

  constructor(private readonly runtime: Runtime) {}

  /** A new event stream for one request; it ends when the request is aborted or on close. */
  open(signal: AbortSignal): Response {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({
      start: (c) => {
        controller = c;
        this.add(c);
        c.enqueue(this.encoder.encode(": pgwake events\nretry: 2000\n\n"));
      },
      cancel: () => this.remove(controller),
    });
    signal.addEventListener("abort", () => this.end(controller), { once: true });
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  }

  /** Ends every stream (the server is closing). */
  close(): void {
    for (const controller of [...this.streams]) this.end(controller);
  }

  private add(controller: ReadableStreamDefaultController<Uint8Array>): void {
    if (this.streams.size === 0) this.subscribe();
    this.streams.add(controller);
  }

  private end(controller: ReadableStreamDefaultController<Uint8Array>): void {
    if (!this.streams.has(controller)) return;
    this.remove(controller);
    try {
      controller.close();
    } catch {
      // already closed by the reader
    }
  }

  private remove(controller: ReadableStreamDefaultController<Uint8Array>): void {
    if (!this.streams.delete(controller)) return;
    if (this.streams.size === 0) this.unsubscribe();
  }

  private readonly onReady = (notice: ReadyNotice): void => {
    if (notice.ready <= 0) return;
    this.window.ready += notice.ready;
    this.send("ready", { queue: notice.queue, ready: notice.ready });
  };

  private readonly onDone = (notice: DoneNotice): void => {
    this.window[notice.state] += notice.ids.length;
    this.send("done", notice);
  };

  private readonly onClaimed = (info: { waitedMs: number }): void => {
    this.window.latencies.push(info.waitedMs);
  };

  private subscribe(): void {
    this.runtime.listener.on("ready", this.onReady);
    this.runtime.listener.on("done", this.onDone);
    this.runtime.on("job:claimed", this.onClaimed);
    this.window = emptyWindow();
    this.rateTimer = setInterval(() => this.sendRate(), RATE_INTERVAL_MS);
    this.keepAliveTimer = setInterval(() => this.write(": keep-alive\n\n"), KEEPALIVE_MS);
    this.rateTimer.unref();
    this.keepAliveTimer.unref();
  }

  private unsubscribe(): void {
    this.runtime.listener.off("ready", this.onReady);
    this.runtime.listener.off("done", this.onDone);
    this.runtime.off("job:claimed", this.onClaimed);
    clearInterval(this.rateTimer);
    clearInterval(this.keepAliveTimer);
  }

  private sendRate(): void {
    const { latencies, ...counts } = this.window;
    this.window = emptyWindow();
    const sorted = latencies.sort((a, b) => a - b);
    this.send("rate", {
      at: new Date().toISOString(),
      ...counts,
      wakeLatencyMs: {
        count: sorted.length,
        p50: percentile(sorted, 50),
        p95: percentile(sorted, 95),
        max: sorted.at(-1) ?? null,
      },
    });
  }

  private send(event: string, data: unknown): void {
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private write(text: string): void {
    const bytes = this.encoder.encode(text);
    for (const controller of this.streams) {
      try {
        controller.enqueue(bytes);
      } catch {
        this.remove(controller); // the reader went away
      }
    }
  }
}
