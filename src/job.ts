import { JobCancelledError, LeaseLostError, ValidationError, type PgwakeError } from "./errors.js";
import { normaliseNack, type NackOptions } from "./options.js";
import type { ClaimedRow } from "./db/rows.js";
import { toJsonText, type Json } from "./util/json.js";
import { toStoredError } from "./util/stored-error.js";

/** What a {@link Job} needs from the client that claimed it. */
export interface JobHost {
  readonly maxPayloadBytes: number;
  /** Completes the job with a result (JSON text); resolves false when the lease no longer matched. */
  complete(job: Job<unknown, unknown>, resultText: string): Promise<boolean>;
  /** Fails the attempt; resolves false when the lease no longer matched. */
  fail(job: Job<unknown, unknown>, error: Json, delayMs: number | null): Promise<boolean>;
  /** The job left this consumer's hands (settled, lost, or its settling failed): stop heartbeating it. */
  release(job: Job<unknown, unknown>): void;
}

/**
 * A job handed to a consumer. Its lease is heartbeated while it is held; settle it once with
 * {@link Job.ack} or {@link Job.nack}.
 *
 * Life cycle (one per delivery):
 *
 *     held ──ack/nack──► settling ──applied──► settled
 *       │                   └─database error──► held, no longer heartbeated: the call rejects;
 *       │                       retrying it is safe (it is fenced), and if nobody does, the
 *       │                       lease lapses and the job is redelivered
 *       └─cancelled / lease lost / stopping──► signal aborts (ack/nack then get LeaseLostError
 *                                              if the lease is really gone)
 *
 * @example
 * ```ts
 * for await (const job of q.receive()) {
 *   try { await job.ack(await handle(job.payload, job.signal)); }
 *   catch (error) { await job.nack(error, { delay: "10s" }); }
 * }
 * ```
 */
export class Job<P = Json, R = Json> {
  /** The job id (a UUID). */
  readonly id: string;
  /** The queue it came from. */
  readonly queue: string;
  readonly payload: P;
  /** The delivery number: 1 first, counting redeliveries after a lost lease. */
  readonly attempt: number;
  /** The attributes it was sent with (`{}` when none). */
  readonly attributes: Record<string, Json>;
  /** @internal the lease this delivery holds */
  readonly leaseToken: string;
  /** @internal */
  readonly leaseMs: number;
  /** @internal when it was claimed, on the monotonic clock */
  readonly claimedAt = performance.now();
  /** @internal the producer's trace context (src/tracing.ts), JSON text */
  readonly traceContext: string | null;

  /** Made on first use of `signal`: most handlers never look, and a drain makes thousands. */
  private controller: AbortController | undefined;
  /** Why the job was aborted before anyone asked for its signal. */
  private abortReason: PgwakeError | undefined;
  /** Cancelled while held, even if it had been aborted for another reason first (a stop). */
  private cancelledWhileHeld = false;
  private state: "held" | "settling" | "settled" = "held";
  private handedOver = false;

  /** @internal */
  constructor(
    queue: string,
    row: ClaimedRow,
    private readonly host: JobHost,
  ) {
    this.id = row.id;
    this.queue = queue;
    this.payload = row.payload as P;
    this.attempt = row.attempt;
    this.attributes = row.attributes ?? {};
    this.leaseToken = row.leaseToken;
    this.leaseMs = row.leaseMs;
    this.traceContext = row.traceContext;
  }

  /** Aborts when the job is cancelled, its lease is lost, or its consumer is stopping. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  /** Whether `ack` or `nack` has succeeded (or is under way). */
  get settled(): boolean {
    return this.state !== "held";
  }

  /** @internal whether the job reached a consumer (yielded, or given to a handler). */
  get delivered(): boolean {
    return this.handedOver;
  }

  /** @internal the job is being handed to a consumer: from now on, letting go counts an attempt. */
  markDelivered(): void {
    this.handedOver = true;
  }

  /**
   * Completes the job with `result` (JSON; `undefined` is stored as null), which the producer's
   * `completed` resolves with.
   *
   * @throws LeaseLostError if this consumer no longer holds the job; nothing changed.
   */
  ack(result?: R): Promise<void> {
    let text: string;
    try {
      text =
        result === undefined ? "null" : toJsonText(result, "result", this.host.maxPayloadBytes);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.settle("ack", () => this.host.complete(this, text));
  }

  /**
   * Fails this attempt. The job is retried after the queue's backoff (or `delay`), or fails for
   * good after its last attempt, when it is also copied to the dead-letter queue.
   *
   * @throws LeaseLostError if this consumer no longer holds the job; nothing changed.
   */
  async nack(error?: unknown, options?: NackOptions): Promise<void> {
    const { delayMs } = normaliseNack(options);
    const stored = toStoredError(error) as Json;
    await this.settle("nack", () => this.host.fail(this, stored, delayMs));
  }

  /** @internal the lease is gone (cancelled, redelivered) or the consumer stops. */
  abort(reason: PgwakeError): void {
    if (reason instanceof JobCancelledError) this.cancelledWhileHeld = true;
    if (this.controller) {
      if (!this.controller.signal.aborted) this.controller.abort(reason);
    } else {
      this.abortReason ??= reason;
    }
  }

  /**
   * @internal the job was cancelled while held: its late ack or nack is expected to find the
   * lease gone. (The signal keeps its first reason: a stop's abort, if that came first.)
   */
  get cancelled(): boolean {
    return this.cancelledWhileHeld;
  }

  /** @internal why the job was aborted, without making a signal to ask. */
  get abortedWith(): PgwakeError | undefined {
    return this.controller
      ? (this.controller.signal.reason as PgwakeError | undefined)
      : this.abortReason;
  }

  /**
   * Starts settling this delivery and follows the statement to its end. Written with `then`, not
   * as an async function: every job of a drain is acked through here, and one promise is less
   * garbage than a frame.
   */
  private settle(action: "ack" | "nack", run: () => Promise<boolean>): Promise<void> {
    if (this.state !== "held") {
      return Promise.reject(
        new ValidationError(
          "job",
          `job ${this.id} was already acked or nacked: settle each delivery once`,
        ),
      );
    }
    this.state = "settling";
    return run().then(
      (ok) => {
        this.state = "settled";
        this.host.release(this);
        if (!ok) {
          const lost = new LeaseLostError(this.id, `${action} after the lease was lost`);
          this.abort(lost);
          throw lost;
        }
      },
      (error: unknown) => {
        // The statement may not have run. A retry is safe (it is fenced); without one, the lease
        // must lapse so the job comes back, rather than be extended for the life of the process.
        this.state = "held";
        this.host.release(this);
        throw error;
      },
    );
  }
}
