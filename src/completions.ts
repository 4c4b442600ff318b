import { JobCancelledError, JobFailedError, JobNotFoundError, type StoredError } from "./errors.js";
import type { OutcomeRow } from "./db/rows.js";
import { deferred, quiet, type Deferred } from "./util/deferred.js";
import type { Json } from "./util/json.js";
import { unrefTimer } from "./util/timer.js";

/** How sure we are that the job exists, which decides what a missing row means. */
type Existence =
  /** The insert has not returned yet: a missing row is normal. */
  | { kind: "pending" }
  /** Written inside a user's transaction `xid` that may not have committed yet. */
  | { kind: "transaction"; xid: string }
  /** Known to exist (committed), or asked for by id: a missing row means it is gone. */
  | { kind: "known" };

interface Waiter {
  queue: string;
  result: Deferred<Json>;
  existence: Existence;
}

export interface CompletionSource {
  /** Reads the outcome of these jobs (one statement). */
  outcomes(ids: string[]): Promise<OutcomeRow[]>;
  /** `pg_xact_status` of these transaction ids: committed, aborted, in progress or null. */
  transactionStates(xids: string[]): Promise<Map<string, string | null>>;
}

/** Re-reads after a failed read, and while a sending transaction is still open. */
const RECHECK_MIN_MS = 250;
const RECHECK_MAX_MS = 5000;

/**
 * Completion handles: one shared promise per job id that settles when the job finishes.
 *
 * Race-free because interest is always registered before the state is read: the listener is
 * LISTENing before anything is sent, a producer registers before its insert commits (ids are
 * made on the client), and a late caller registers and then reads. After every reconnect all
 * waiters are read again, since notifications sent while disconnected are lost.
 */
export class Completions {
  private readonly waiters = new Map<string, Waiter>();
  private readonly toCheck = new Set<string>();
  private checkScheduled = false;
  private recheckTimer: NodeJS.Timeout | undefined;
  private recheckMs = RECHECK_MIN_MS;
  private stopped = false;
  /** What waiters reject with once closed. */
  private closedWith: unknown;

  constructor(
    private readonly source: CompletionSource,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Jobs being waited on. */
  get size(): number {
    return this.waiters.size;
  }

  /**
   * Interest in a job of `queue` that cannot have finished yet (its insert has not returned).
   * Follow with {@link confirm} or {@link abandon}.
   */
  expect(queue: string, id: string): Promise<Json> {
    return this.register(queue, id, { kind: "pending" }).result.promise;
  }

  /** The job's insert committed (`xid` given: it was written in a transaction not yet committed). */
  confirm(id: string, xid?: string): void {
    const waiter = this.waiters.get(id);
    if (!waiter || waiter.existence.kind === "known") return;
    waiter.existence = xid === undefined ? { kind: "known" } : { kind: "transaction", xid };
    if (xid !== undefined) this.scheduleRecheck();
  }

  /**
   * The send turned out to be a job that already existed (its dedup key was held): whoever
   * waits on `from` waits on `to` instead. `xid`: the send's transaction, not yet committed
   * perhaps, in which the holder may have been written too (a key twice in one `tx` batch).
   */
  redirect(queue: string, from: string, to: string, xid?: string): void {
    const waiter = this.waiters.get(from);
    if (!waiter) return;
    this.waiters.delete(from);
    this.watch(queue, to, xid).then(waiter.result.resolve, waiter.result.reject);
  }

  /** The job's insert failed: its waiter rejects with the same error. */
  abandon(id: string, error: unknown): void {
    const waiter = this.waiters.get(id);
    if (!waiter) return;
    this.waiters.delete(id);
    waiter.result.reject(error);
  }

  /**
   * Interest in a job of `queue` that may have finished already: registers, then reads. `xid`:
   * the job was written in that transaction, which may not have committed yet.
   */
  watch(queue: string, id: string, xid?: string): Promise<Json> {
    const existence: Existence =
      xid === undefined ? { kind: "known" } : { kind: "transaction", xid };
    const waiter = this.register(queue, id, existence);
    this.check([id]);
    return waiter.result.promise;
  }

  /** A `done` notification: read the outcome of the ids someone waits on. */
  onDone(ids: readonly string[]): void {
    this.check(ids.filter((id) => this.waiters.has(id)));
  }

  /** Reads every waiter again (after a reconnect, or on the safety poll). */
  recheckAll(): void {
    this.check([...this.waiters.keys()]);
  }

  /** Rejects every waiter (the client is closing), and any asked for from now on. */
  rejectAll(error: unknown): void {
    this.stopped = true;
    this.closedWith = error;
    clearTimeout(this.recheckTimer);
    for (const waiter of this.waiters.values()) waiter.result.reject(error);
    this.waiters.clear();
  }

  private register(queue: string, id: string, existence: Existence): Waiter {
    let waiter = this.stopped ? undefined : this.waiters.get(id);
    if (!waiter) {
      // quiet: a `completed` nobody reads must never become an unhandled rejection.
      const result = deferred<Json>();
      void quiet(result.promise);
      waiter = { queue, result, existence };
      // Closed: nothing would read or notify it any more, so it settles now.
      if (this.stopped) result.reject(this.closedWith);
      else this.waiters.set(id, waiter);
    } else if (existence.kind !== "pending" && waiter.existence.kind !== "known") {
      waiter.existence = existence;
    }
    return waiter;
  }

  /** Coalesces reads made in one turn of the event loop into one statement. */
  private check(ids: readonly string[]): void {
    for (const id of ids) this.toCheck.add(id);
    if (this.checkScheduled || this.toCheck.size === 0 || this.stopped) return;
    this.checkScheduled = true;
    setImmediate(() => {
      this.checkScheduled = false;
      const batch = [...this.toCheck];
      this.toCheck.clear();
      this.read(batch).catch((error: unknown) => {
        this.onError(error);
        this.scheduleRecheck();
      });
    });
  }

  /** Reads every waiter again after a backoff (a read failed, or a transaction is still open). */
  private scheduleRecheck(): void {
    if (this.recheckTimer || this.stopped) return;
    this.recheckTimer = unrefTimer(() => {
      this.recheckTimer = undefined;
      this.recheckMs = Math.min(RECHECK_MAX_MS, this.recheckMs * 2);
      this.recheckAll();
    }, this.recheckMs);
  }

  private async read(ids: string[]): Promise<void> {
    // A missing row only means something for what was known before the read was sent: a send
    // that commits while the read is in flight is confirmed before its answer arrives, and that
    // answer (from an older snapshot) cannot show the row.
    const asked = new Map(ids.map((id) => [id, this.waiters.get(id)?.existence]));
    const rows = await this.source.outcomes(ids);
    this.recheckMs = RECHECK_MIN_MS; // reads work again
    const found = new Set<string>();
    for (const row of rows) {
      const waiter = this.waiters.get(row.id);
      if (!waiter) continue;
      if (waiter.queue !== row.queue) continue; // not a job of the queue asked about: missing
      found.add(row.id);
      if (row.state === "completed" || row.state === "failed" || row.state === "cancelled") {
        this.settle(waiter, row);
      } else {
        waiter.existence = { kind: "known" };
      }
    }
    const inTransactions = new Map<string, string[]>();
    for (const id of ids) {
      const waiter = this.waiters.get(id);
      if (found.has(id) || !waiter) continue;
      if (waiter.existence !== asked.get(id)) {
        this.check([id]); // confirmed (or registered) during the read: read again
      } else if (waiter.existence.kind === "known") {
        this.waiters.delete(id);
        waiter.result.reject(new JobNotFoundError(id));
      } else if (waiter.existence.kind === "transaction") {
        const list = inTransactions.get(waiter.existence.xid) ?? [];
        list.push(id);
        inTransactions.set(waiter.existence.xid, list);
      }
    }
    if (inTransactions.size > 0) await this.settleRolledBack(inTransactions);
  }

  /** Jobs written in a transaction that rolled back will never exist: reject their waiters. */
  private async settleRolledBack(byXid: Map<string, string[]>): Promise<void> {
    const states = await this.source.transactionStates([...byXid.keys()]);
    for (const [xid, ids] of byXid) {
      const state = states.get(xid);
      if (state === "in progress") {
        this.scheduleRecheck(); // no notification tells us when it ends
        continue;
      }
      for (const id of ids) {
        const waiter = this.waiters.get(id);
        if (!waiter) continue;
        if (state === "committed") {
          // Committed after our read: read again rather than guess.
          waiter.existence = { kind: "known" };
          this.check([id]);
        } else {
          this.waiters.delete(id);
          waiter.result.reject(
            new JobNotFoundError(id, "the transaction that sent it rolled back"),
          );
        }
      }
    }
  }

  private settle(waiter: Waiter, row: OutcomeRow): void {
    this.waiters.delete(row.id);
    if (row.state === "completed") waiter.result.resolve(row.result);
    else if (row.state === "cancelled") waiter.result.reject(new JobCancelledError(row.id));
    else
      waiter.result.reject(
        new JobFailedError(row.id, row.attempt, row.lastError ?? unknownError()),
      );
  }
}

function unknownError(): StoredError {
  return { message: "no error was recorded" };
}
