import {
  AbortedError,
  ClientClosedError,
  QueueFullError,
  QueueNotFoundError,
  ValidationError,
} from "./errors.js";
import type { Db, EnqueueResult, InsertOutcome, InsertRow, Queries } from "./db/queries.js";
import type { Wakeups } from "./notify/wakeups.js";
import type { NormalisedSend } from "./options.js";
import type { Written } from "./sent-job.js";
import { MAX_STATEMENT_BYTES } from "./settler.js";
import { startSend, type SendSpan } from "./tracing.js";
import { Coalescer } from "./util/coalescer.js";
import { timeoutSignal } from "./util/timer.js";

/** Insert statements in flight at once from one client; more sends wait and share the next one. */
const MAX_INSERTS_IN_FLIGHT = 4;
const MAX_ROWS_PER_INSERT = 1000;

type Attempt = EnqueueResult & { xid: string | undefined };

/**
 * Writes jobs, through `_enqueue` (migration 0002). Concurrent `send` calls in one process share
 * insert statements (so they also share one transaction commit and one NOTIFY per queue);
 * `sendMany` and sends inside a caller's transaction are statements of their own.
 *
 * A job whose bounded queue is full waits for room: `room` is woken by the `done` notifications
 * of its queue, and the generation is read before each attempt, so room freed between the
 * attempt and the wait is never missed. `timeout` and `signal` give up with `QueueFullError`.
 *
 * With tracing on (src/tracing.ts), each call is a `send <queue>` span whose trace context is
 * written with its jobs.
 */
export class Producer {
  private readonly inserts: Coalescer<InsertRow, Attempt>;

  constructor(
    private readonly queries: Queries,
    private readonly db: Db,
    private readonly room: Wakeups,
    /** Aborted when the client closes: a send waiting for room then rejects. */
    private readonly closing: AbortSignal,
  ) {
    this.inserts = new Coalescer(
      async (rows) => {
        const outcome = await queries.insertJobs(db, rows, false);
        return rows.map((row) => ({ ok: true, value: attemptOf(row, outcome) }));
      },
      {
        maxBatch: MAX_ROWS_PER_INSERT,
        maxInFlight: MAX_INSERTS_IN_FLIGHT,
        weigh: (row) => row.payloadText.length,
        maxWeight: MAX_STATEMENT_BYTES,
      },
    );
  }

  /** Writes one job; resolves once it is committed (or written, inside `tx`), or deduplicated. */
  async send(queue: string, id: string, job: NormalisedSend): Promise<Written> {
    checkNotAborted(job.signal, "send");
    const span = startSend(queue, [id], false);
    if (!span) return this.sendOne(queue, id, job, undefined);
    return traced(span, this.sendOne(queue, id, job, span.traceContext));
  }

  private async sendOne(
    queue: string,
    id: string,
    job: NormalisedSend,
    traceContext: SendSpan["traceContext"],
  ): Promise<Written> {
    const giveUp = new GiveUp(job);
    const row = insertRow(queue, id, job, traceContext);
    const untrack = this.room.track(queue);
    try {
      for (;;) {
        const seen = this.room.generation(queue);
        const attempt = job.tx
          ? await this.attempt(job.tx as unknown as Db, [row], false).then((r) => r[0]!)
          : await this.inserts.push(row);
        switch (attempt.status) {
          case "inserted":
            return { ids: [id], xid: attempt.xid };
          case "existing":
            // In a transaction the holder may have been written earlier in it, unseen by others.
            return { ids: [attempt.existingId!], xid: job.tx ? attempt.xid : undefined };
          case "conflict":
            continue; // the key's holder committed meanwhile: the next attempt finds it
          case "full":
            await this.waitForRoom(queue, seen, giveUp, []);
            continue;
          default:
            throw refusal(queue, attempt);
        }
      }
    } finally {
      untrack();
    }
  }

  /**
   * Writes jobs in one statement. Bad input anywhere (a missing queue, unknown dependencies)
   * writes nothing. In a bounded queue, jobs are admitted in order as room frees.
   */
  async sendMany(
    queue: string,
    ids: string[],
    jobs: NormalisedSend[],
    batch: NormalisedSend,
  ): Promise<Written> {
    checkNotAborted(batch.signal, "sendMany");
    if (jobs.length === 0) return { ids: [], xid: undefined };
    const span = startSend(queue, ids, true);
    if (!span) return this.sendBatch(queue, ids, jobs, batch, undefined);
    return traced(span, this.sendBatch(queue, ids, jobs, batch, span.traceContext));
  }

  private async sendBatch(
    queue: string,
    ids: string[],
    jobs: NormalisedSend[],
    batch: NormalisedSend,
    traceContext: SendSpan["traceContext"],
  ): Promise<Written> {
    const giveUp = new GiveUp(batch);
    const db = batch.tx ? (batch.tx as unknown as Db) : this.db;
    let pending = jobs.map((job, index) => insertRow(queue, ids[index]!, job, traceContext));
    // Jobs whose id is not their own: deduplicated onto the unfinished job holding their key.
    const existing = new Map<string, string>();
    let xid: string | undefined;
    const untrack = this.room.track(queue);
    try {
      while (pending.length > 0) {
        const seen = this.room.generation(queue);
        const outcome = await this.queries.insertJobs(db, pending, true);
        // In a transaction, a batch that only found holders may have written them itself.
        if (outcome.inserted > 0 || batch.tx) xid = outcome.xid;
        if (outcome.others.size === 0) break; // every job inserted: the common case
        const retry: InsertRow[] = [];
        let full = false;
        for (const row of pending) {
          const attempt = outcome.others.get(row.id);
          if (attempt === undefined) continue; // inserted
          if (attempt.status === "existing") existing.set(row.id, attempt.existingId!);
          else if (attempt.status === "full" || attempt.status === "conflict") {
            retry.push(row);
            full ||= attempt.status === "full";
          } else if (attempt.status !== "skipped") throw refusal(queue, attempt);
        }
        pending = retry;
        if (full) {
          const waiting = new Set(retry.map((row) => row.id));
          const written = ids.filter((id) => !waiting.has(id)).map((id) => existing.get(id) ?? id);
          await this.waitForRoom(queue, seen, giveUp, written);
        }
      }
      return { ids: existing.size === 0 ? ids : ids.map((id) => existing.get(id) ?? id), xid };
    } finally {
      untrack();
    }
  }

  /** Resolves when every send asked for so far is written. */
  drain(): Promise<void> {
    return this.inserts.drain();
  }

  private async attempt(db: Db, rows: InsertRow[], atomic: boolean): Promise<Attempt[]> {
    const outcome = await this.queries.insertJobs(db, rows, atomic);
    return rows.map((row) => attemptOf(row, outcome));
  }

  private async waitForRoom(
    queue: string,
    seen: number,
    giveUp: GiveUp,
    written: string[],
  ): Promise<void> {
    const own = giveUp.signal();
    // Closing stops the notifications that would bring room: wait no more, or never settle.
    const signal = own ? AbortSignal.any([own, this.closing]) : this.closing;
    await this.room.wait(queue, seen, signal);
    if (this.closing.aborted) throw new ClientClosedError("wait for room in a bounded queue");
    if (signal.aborted) throw new QueueFullError(queue, { written, cause: signal.reason });
  }
}

/**
 * When a waiting send gives up: its `signal`, or `timeout` after the send started. The timer is
 * only made when the send has to wait, so sends that never do pay nothing for it.
 */
class GiveUp {
  private readonly deadline: number | undefined;

  constructor(private readonly job: NormalisedSend) {
    this.deadline = job.timeoutMs === undefined ? undefined : performance.now() + job.timeoutMs;
  }

  signal(): AbortSignal | undefined {
    const signals: AbortSignal[] = [];
    if (this.job.signal) signals.push(this.job.signal);
    if (this.deadline !== undefined) {
      signals.push(timeoutSignal(Math.max(0, Math.ceil(this.deadline - performance.now()))));
    }
    return signals.length <= 1 ? signals[0] : AbortSignal.any(signals);
  }
}

function checkNotAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) {
    throw new AbortedError(`${what} was aborted by its signal before anything was written`, {
      cause: signal.reason,
    });
  }
}

/** The error for a job `_enqueue` refused. */
function refusal(queue: string, attempt: EnqueueResult): Error {
  if (attempt.status === "no_queue") return new QueueNotFoundError(queue);
  if (attempt.status === "unknown_after") {
    return new ValidationError(
      "options.after",
      `options.after names jobs that do not exist: ${attempt.detail}; nothing was written. ` +
        `Wait on jobs of this database only, and before retention deletes them`,
    );
  }
  return new Error(`internal: unexpected enqueue status ${attempt.status}`);
}

/** Ends the span when the write settles. */
async function traced(span: SendSpan, write: Promise<Written>): Promise<Written> {
  try {
    const written = await write;
    span.end();
    return written;
  } catch (error) {
    span.fail(error);
    throw error;
  }
}

/** What became of one job of an insert statement. */
function attemptOf(row: InsertRow, outcome: InsertOutcome): Attempt {
  const other = outcome.others.get(row.id);
  return other
    ? { ...other, xid: outcome.xid }
    : { id: row.id, status: "inserted", existingId: null, detail: null, xid: outcome.xid };
}

function insertRow(
  queue: string,
  id: string,
  job: NormalisedSend,
  traceContext: SendSpan["traceContext"],
): InsertRow {
  return {
    id,
    queue,
    payloadText: job.payloadText,
    attributes: job.attributes,
    priority: job.priority,
    delay_ms: job.delayMs,
    run_at: job.runAt?.toISOString(),
    max_attempts: job.maxAttempts,
    key: job.key,
    after: job.after,
    trace_context: traceContext,
  };
}
