import { LeaseLostError, QueueNotFoundError } from "./errors.js";
import type { Filter } from "./options.js";
import type { ClaimedJob, Runtime } from "./runtime.js";
import type { Json } from "./util/json.js";
import { timeoutSignal } from "./util/timer.js";

/** A job leased to a consumer in another process (a worker calling the HTTP API). */
export interface RemoteJob {
  id: string;
  queue: string;
  payload: Json;
  attributes: Record<string, Json>;
  attempt: number;
  /** Proves the lease: heartbeat, ack and nack must present it. */
  leaseToken: string;
  /** The lease runs out then unless heartbeated (every third of `leaseMs` is a good pace). */
  leaseExpiresAt: Date;
  leaseMs: number;
}

export interface RemoteClaim {
  batch: number;
  filter: Filter;
  /** How long to wait for a job when none is ready (0: answer at once). */
  waitMs: number;
  /** The caller went away: stop waiting, and hand back what was claimed for it. */
  signal: AbortSignal;
  /** Who holds the lease, as `leasedBy` shows it. */
  consumer: string;
}

/**
 * Leases jobs to consumers in other processes (the HTTP API's remote workers). Unlike a local
 * consumer, this process does not heartbeat them: the remote worker does, with the lease token,
 * and a worker that vanishes loses its jobs after the queue's lease time like any other.
 *
 * Claims wait for work the way local consumers do (NOTIFY wake-ups, no polling), and a queue
 * claimed from once has its deadlines watched from then on, so the leases of remote workers that
 * died are taken back even while nobody is claiming.
 */
export class RemoteConsumer {
  private readonly watched = new Map<string, () => void>();
  /** Leases handed out and not yet settled here, for the settling events' attempt and duration. */
  private readonly outstanding = new Map<string, ClaimedJob & { expiresAt: number }>();

  constructor(private readonly runtime: Runtime) {}

  async claim(queue: string, claim: RemoteClaim): Promise<RemoteJob[]> {
    // A queue is watched from its first claim on, for the life of this process: only one that
    // exists (a name made up per request would add a watcher, and a statement per poll, each).
    if (!this.watched.has(queue)) {
      if (!(await this.runtime.queries.getQueue(this.runtime.db, queue))) {
        throw new QueueNotFoundError(queue);
      }
      this.watch(queue);
    }
    const { wakeups } = this.runtime;
    const giveUp = AbortSignal.any([
      claim.signal,
      this.runtime.closing.signal,
      timeoutSignal(Math.max(1, claim.waitMs)),
    ]);
    for (;;) {
      const seen = wakeups.generation(queue);
      const rows = await this.runtime.claimRows(queue, claim.batch, claim.filter, claim.consumer);
      if (rows.length > 0 && claim.signal.aborted) {
        // Nobody will receive these: back to the queue at once, the attempt not counted.
        await Promise.all(
          rows.map((r) => this.runtime.releaseLease({ id: r.id, token: r.leaseToken })),
        );
        return [];
      }
      if (rows.length > 0 || claim.waitMs <= 0 || giveUp.aborted) {
        this.prune();
        return rows.map((row) => {
          const job: RemoteJob = {
            id: row.id,
            queue,
            payload: row.payload,
            attributes: row.attributes ?? {},
            attempt: row.attempt,
            leaseToken: row.leaseToken,
            leaseExpiresAt: row.leaseExpiresAt,
            leaseMs: row.leaseMs,
          };
          const claimedAt = performance.now();
          this.outstanding.set(row.id, {
            queue,
            id: row.id,
            attempt: row.attempt,
            claimedAt,
            expiresAt: claimedAt + 2 * row.leaseMs,
          });
          return job;
        });
      }
      await wakeups.wait(queue, seen, giveUp);
      // Hung up or closing: claim nothing more. Timed out: one last look, then answer.
      if (claim.signal.aborted || this.runtime.closing.signal.aborted) return [];
    }
  }

  /** Extends a lease by its queue's lease time; its new expiry. */
  async heartbeat(id: string, token: string): Promise<Date> {
    const expiresAt = await this.runtime.queries.extendLease(this.runtime.db, { id, token });
    if (!expiresAt) throw new LeaseLostError(id, "heartbeat after the lease was lost");
    const held = this.outstanding.get(id);
    if (held) held.expiresAt = performance.now() + 2 * (expiresAt.getTime() - Date.now());
    return expiresAt;
  }

  async ack(id: string, token: string, resultText: string): Promise<void> {
    const applied = await this.runtime.completeLease(this.settling(id), { id, token }, resultText);
    if (!applied) throw new LeaseLostError(id, "ack after the lease was lost");
    this.outstanding.delete(id);
  }

  async nack(id: string, token: string, error: Json, delayMs: number | null): Promise<void> {
    const applied = await this.runtime.failLease(this.settling(id), { id, token }, error, delayMs);
    if (!applied) throw new LeaseLostError(id, "nack after the lease was lost");
    this.outstanding.delete(id);
  }

  /** Stops watching deadlines (the client is closing). */
  stop(): void {
    for (const unwatch of this.watched.values()) unwatch();
    this.watched.clear();
    this.outstanding.clear();
  }

  private watch(queue: string): void {
    if (!this.watched.has(queue)) this.watched.set(queue, this.runtime.watchDeadlines(queue));
  }

  /** The job as claimed here; a lease claimed by an earlier server process is unknown. */
  private settling(id: string): ClaimedJob {
    return this.outstanding.get(id) ?? { queue: "", id, attempt: 0, claimedAt: performance.now() };
  }

  /** Forgets leases whose workers went silent long ago (they were redelivered meanwhile). */
  private prune(): void {
    const now = performance.now();
    for (const [id, held] of this.outstanding)
      if (held.expiresAt < now) this.outstanding.delete(id);
  }
}
