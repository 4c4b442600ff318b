/**
 * The chaos test's producer: sends jobs at a steady pace through one pgwake client and follows
 * every send's two promises (the send, and `completed`) to the end, so the checks can tell which
 * sends resolved, which completions settled and how, and which still hang.
 */
import { randomBytes } from "node:crypto";
import type { Queue } from "../../src/index.js";
import type { ChaosPayload, ChaosResult } from "./jobs.js";

export type Settlement<T> =
  | { state: "pending" }
  | { state: "resolved"; value: T; at: number }
  | { state: "rejected"; error: unknown; at: number };

export interface SentRecord {
  payload: ChaosPayload;
  probe: boolean;
  /** When `send` was called (`Date.now()`). */
  sentAt: number;
  send: Settlement<string>;
  completed: Settlement<ChaosResult>;
}

export class Producer {
  readonly records: SentRecord[] = [];
  private next = 0;
  /** Every record's completion, to wait on all of them at the end. */
  private readonly settling: Array<Promise<unknown>> = [];

  constructor(private readonly queue: Queue<ChaosPayload, ChaosResult>) {}

  /**
   * Sends `count` jobs spread evenly over `durationMs`, in small bursts (concurrent sends share
   * statements, as an app's would). Resolves when the last one was handed to `send`.
   */
  async paced(count: number, durationMs: number, stop: AbortSignal): Promise<void> {
    const started = performance.now();
    let sent = 0;
    while (sent < count && !stop.aborted) {
      const due = Math.min(count, Math.ceil(((performance.now() - started) / durationMs) * count));
      for (; sent < due; sent++) this.send(false);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /**
   * Sends one job ahead of the queue (high priority) and resolves with its record once its
   * `completed` settled: how the runner measures that the system works again after a fault.
   */
  async probe(): Promise<SentRecord> {
    const record = this.send(true);
    await this.settling.at(-1);
    return record;
  }

  /** Resolves when every completion has settled, or after `ms`. */
  async settled(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.allSettled(this.settling).then(() => true);
    const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)));
    const done = await Promise.race([all, timeout]);
    clearTimeout(timer);
    return done;
  }

  private send(probe: boolean): SentRecord {
    const payload: ChaosPayload = { n: this.next++, token: randomBytes(6).toString("hex") };
    const record: SentRecord = {
      payload,
      probe,
      sentAt: Date.now(),
      send: { state: "pending" },
      completed: { state: "pending" },
    };
    this.records.push(record);
    const sent = this.queue.send(payload, probe ? { priority: 100 } : {});
    void sent.then(
      (id) => (record.send = { state: "resolved", value: id, at: Date.now() }),
      (error: unknown) => (record.send = { state: "rejected", error, at: Date.now() }),
    );
    this.settling.push(
      sent.completed.then(
        (value) => (record.completed = { state: "resolved", value, at: Date.now() }),
        (error: unknown) => (record.completed = { state: "rejected", error, at: Date.now() }),
      ),
    );
    return record;
  }
}
