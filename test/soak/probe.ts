/**
 * Samples one client between rounds, once its work has settled: the census of its internal
 * collections (./census.ts), its pending timers (./timers.ts), the process's memory after a full
 * garbage collection, and its active handles.
 */
import { Client } from "../../src/client.js";
import type { Runtime } from "../../src/runtime.js";
import { censusDiff, takeCensus, type Census } from "./census.js";
import { activeResources, pendingTimers } from "./timers.js";

export interface Snapshot {
  census: Census;
  /** Pending timers by the src/ line that set them. */
  timers: Map<string, number>;
  /** Active handles by type (unref'd timers are not among them). */
  handles: Map<string, number>;
  heapUsed: number;
  rss: number;
  external: number;
}

/** How often, and how long, to look for the client to settle back to its baseline. */
const SETTLE_POLL_MS = 25;

export class Probe {
  private readonly runtime: Runtime;

  constructor(client: Client) {
    this.runtime = Client.runtimeOf(client);
  }

  census(): Census {
    return takeCensus(this.runtime);
  }

  /**
   * Waits for the census to equal `baseline` (every collection and listener count back where it
   * was), looking every 25 ms: between rounds a claim may still be coming back empty, an ack's
   * NOTIFY arriving, the cleaner deleting. Resolves with how long that took and, if it never
   * happened within `deadlineMs`, what still differs.
   */
  async settle(baseline: Census, deadlineMs: number): Promise<{ ms: number; diff: string[] }> {
    const started = performance.now();
    for (;;) {
      const diff = censusDiff(baseline, this.census());
      const ms = performance.now() - started;
      if (diff.length === 0 || ms > deadlineMs) return { ms, diff };
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    }
  }

  /** A census that stays the same for `stableMs` (the baseline, taken after a warm-up round). */
  async stable(stableMs: number, deadlineMs: number): Promise<Census> {
    const started = performance.now();
    let census = this.census();
    let since = performance.now();
    while (performance.now() - since < stableMs && performance.now() - started < deadlineMs) {
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
      const next = this.census();
      if (censusDiff(census, next).length > 0) since = performance.now();
      census = next;
    }
    return census;
  }

  /** Everything at once, after two full collections (run node with --expose-gc). */
  snapshot(): Snapshot {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (!gc) throw new Error("run node with --expose-gc: heap samples need a full collection");
    gc();
    gc();
    const { heapUsed, rss, external } = process.memoryUsage();
    return {
      census: this.census(),
      timers: pendingTimers(),
      handles: activeResources(),
      heapUsed,
      rss,
      external,
    };
  }
}
