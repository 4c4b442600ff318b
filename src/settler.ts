import { isConnectionError } from "./errors.js";
import { leaseKey, type Db, type LeaseRef, type Queries } from "./db/queries.js";
import { Coalescer, type Outcome } from "./util/coalescer.js";
import type { Json } from "./util/json.js";

/** Connection failures are retried this many times: settling statements are fenced and idempotent. */
const RETRIES = 4;
const RETRY_BASE_MS = 100;

/**
 * One statement of each kind at a time; what arrives meanwhile joins the next. Concurrent acks
 * update neighbouring rows and the same right-hand index pages, and contend for them: with one in
 * flight instead of four, a 1 x 10 drain of no-op jobs spent 51-53 us of server CPU per job
 * instead of 75 and ran at 20,750-21,480 jobs/s instead of 16,622-16,735 (bench/drain-profile.ts,
 * PostgreSQL 15, 2 cores). The batches grow instead.
 */
const BATCH = { maxBatch: 1000, maxInFlight: 1 };

/** A coalesced statement carries at most this much JSON (a jsonb value is limited to 256 MB). */
export const MAX_STATEMENT_BYTES = 16 * 1024 * 1024;

/**
 * Writes acks, nacks and releases. Calls made in the same turn of the event loop share one
 * statement (like River's batch completer, without its delay), each fenced by its lease token.
 * A statement that fails because the connection broke is retried: the statements recognise a
 * settlement they already applied, so a retry never turns success into a false lost lease.
 */
export class Settler {
  private readonly acks: Coalescer<LeaseRef & { resultText: string }, boolean>;
  private readonly nacks: Coalescer<LeaseRef & { error: Json; delay_ms: number | null }, boolean>;
  private readonly releases: Coalescer<LeaseRef, boolean>;

  constructor(queries: Queries, db: Db) {
    this.acks = new Coalescer((items) => applied(items, () => queries.completeJobs(db, items)), {
      ...BATCH,
      weigh: (item) => item.resultText.length,
      maxWeight: MAX_STATEMENT_BYTES,
    });
    this.nacks = new Coalescer((items) => applied(items, () => queries.failJobs(db, items)), BATCH);
    this.releases = new Coalescer(
      (items) => applied(items, () => queries.releaseJobs(db, items)),
      BATCH,
    );
  }

  /** Completes a job with its result (JSON text); resolves false when its lease no longer matched. */
  complete(id: string, token: string, resultText: string): Promise<boolean> {
    return this.acks.push({ id, token, resultText });
  }

  /** Fails an attempt; resolves false when its lease no longer matched. */
  fail(lease: LeaseRef, error: Json, delayMs: number | null): Promise<boolean> {
    return this.nacks.push({ id: lease.id, token: lease.token, error, delay_ms: delayMs });
  }

  /** Puts a claimed, undelivered job back without counting the attempt. */
  release(lease: LeaseRef): Promise<boolean> {
    return this.releases.push({ id: lease.id, token: lease.token });
  }

  /** Resolves when every settlement asked for so far is written. */
  async drain(): Promise<void> {
    await Promise.all([this.acks.drain(), this.nacks.drain(), this.releases.drain()]);
  }
}

/** Shared, never changed: a drain settles thousands of jobs per second, one outcome each. */
const APPLIED: Outcome<boolean> = Object.freeze({ ok: true, value: true });
const NOT_APPLIED: Outcome<boolean> = Object.freeze({ ok: true, value: false });

/**
 * Each item's outcome, from the leases the statement could not apply (usually none). An empty
 * answer therefore reads as "all applied": it is one only because `Queries.run` rejects a
 * statement that did not run (`checkRan`), and the keys match because ids and tokens travel as
 * PostgreSQL's lowercase UUID text both ways (claimed rows; ids from users pass `checkJobId`).
 */
async function applied<T extends LeaseRef>(
  items: T[],
  run: () => Promise<Set<string>>,
): Promise<Array<Outcome<boolean>>> {
  const missed = await withRetry(run);
  if (missed.size === 0) return items.map(() => APPLIED);
  return items.map((item) => (missed.has(leaseKey(item.id, item.token)) ? NOT_APPLIED : APPLIED));
}

async function withRetry<T>(run: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (attempt >= RETRIES || !isConnectionError(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, RETRY_BASE_MS * 4 ** attempt));
    }
  }
}
