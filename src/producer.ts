import { AbortedError, QueueNotFoundError } from "./errors.js";
import type { Db, InsertRow, Queries } from "./db/queries.js";
import type { NormalisedSend } from "./options.js";
import type { Written } from "./sent-job.js";
import { MAX_STATEMENT_BYTES } from "./settler.js";
import { Coalescer } from "./util/coalescer.js";

/** Insert statements in flight at once from one client; more sends wait and share the next one. */
const MAX_INSERTS_IN_FLIGHT = 4;
const MAX_ROWS_PER_INSERT = 1000;

/**
 * Writes jobs. Concurrent `send` calls in one process share insert statements (so they also share
 * one transaction commit and one NOTIFY per queue); `sendMany` and sends inside a caller's
 * transaction are one statement of their own.
 */
export class Producer {
  private readonly inserts: Coalescer<InsertRow, Written>;

  constructor(
    private readonly queries: Queries,
    private readonly db: Db,
  ) {
    this.inserts = new Coalescer(
      async (rows) => {
        const { ids, xid } = await queries.insertJobs(db, rows);
        return rows.map((row) =>
          ids.has(row.id)
            ? { ok: true, value: { xid } }
            : { ok: false, error: new QueueNotFoundError(row.queue) },
        );
      },
      {
        maxBatch: MAX_ROWS_PER_INSERT,
        maxInFlight: MAX_INSERTS_IN_FLIGHT,
        weigh: (row) => row.payloadText.length,
        maxWeight: MAX_STATEMENT_BYTES,
      },
    );
  }

  /** Writes one job; resolves once it is committed (or written, inside `tx`). */
  async send(queue: string, id: string, job: NormalisedSend): Promise<Written> {
    checkSignal(job.signal, "send");
    const row = insertRow(queue, id, job);
    if (job.tx) return this.insertNow(job.tx as unknown as Db, queue, [row]);
    return this.inserts.push(row);
  }

  /** Writes jobs in one statement, all or none. */
  async sendMany(
    queue: string,
    ids: string[],
    jobs: NormalisedSend[],
    batch: NormalisedSend,
  ): Promise<Written> {
    checkSignal(batch.signal, "sendMany");
    if (jobs.length === 0) return { xid: undefined };
    const rows = jobs.map((job, index) => insertRow(queue, ids[index]!, job));
    return this.insertNow(batch.tx ? (batch.tx as unknown as Db) : this.db, queue, rows);
  }

  /** Resolves when every send asked for so far is written. */
  drain(): Promise<void> {
    return this.inserts.drain();
  }

  private async insertNow(db: Db, queue: string, rows: InsertRow[]): Promise<Written> {
    const { ids, xid } = await this.queries.insertJobs(db, rows);
    // All rows share one queue, so they were all written or (the queue is missing) none was.
    if (ids.size < rows.length) throw new QueueNotFoundError(queue);
    return { xid };
  }
}

function checkSignal(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) {
    throw new AbortedError(`${what} was aborted by its signal before anything was written`, {
      cause: signal.reason,
    });
  }
}

function insertRow(queue: string, id: string, job: NormalisedSend): InsertRow {
  return {
    id,
    queue,
    payloadText: job.payloadText,
    attributes: job.attributes,
    priority: job.priority,
    delay_ms: job.delayMs,
    run_at: job.runAt?.toISOString(),
    max_attempts: job.maxAttempts,
  };
}
