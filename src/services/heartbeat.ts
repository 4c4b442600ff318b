import type { LeaseRef } from "../db/queries.js";
import { unrefTimer } from "../util/timer.js";

/** A lease this process holds. */
export interface HeldLease extends LeaseRef {
  leaseMs: number;
  /** Called when a beat finds the lease gone (redelivered, cancelled or finished elsewhere). */
  onLost(): void;
}

interface Entry {
  lease: HeldLease;
  /** When the lease was last extended, on the monotonic clock (`performance.now()`). */
  lastBeat: number;
}

const RETRY_AFTER_FAILURE_MS = 1000;

/**
 * Keeps this process's leases alive: one statement per beat for every job held, not one per job.
 * A lease of L is extended every L/3, so two beats can fail before it expires. Jobs that finish
 * sooner than that are never beaten at all; an idle process sends nothing.
 *
 * Leases are keyed by job id and matched by token: the same job can be claimed again by this
 * process after its earlier lease here expired, and the earlier delivery then counts as lost.
 */
export class Heartbeat {
  private readonly held = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private beating = false;
  private stopped = false;
  /** After a failed beat, wait until then before the next try. */
  private notBefore = 0;

  constructor(
    private readonly beat: (leases: Array<LeaseRef & { lease_ms: number }>) => Promise<Set<string>>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Leases held right now. */
  get size(): number {
    return this.held.size;
  }

  hold(lease: HeldLease): void {
    const previous = this.held.get(lease.id);
    const entry = { lease, lastBeat: performance.now() };
    this.held.set(lease.id, entry);
    if (previous && previous.lease.token !== lease.token) previous.lease.onLost();
    // Only the new lease can move the next beat earlier: no walk over every lease held (a
    // worker claiming ahead holds hundreds, and holds one more per job).
    this.schedule(this.nextBeatAt(entry));
  }

  /** Stops extending this lease (if it is still the one held for its job). */
  drop(lease: LeaseRef): void {
    if (this.held.get(lease.id)?.lease.token !== lease.token) return;
    this.held.delete(lease.id);
    if (this.held.size === 0) this.clearTimer();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  private nextBeatAt(entry: Entry): number {
    return entry.lastBeat + entry.lease.leaseMs / 3;
  }

  /** Sets the timer for the next beat: at `candidate` if earlier than the one set, else found. */
  private schedule(candidate?: number): void {
    if (this.stopped || this.beating || this.held.size === 0) return;
    let at = candidate ?? Infinity;
    if (candidate === undefined || !this.timer) {
      for (const entry of this.held.values()) at = Math.min(at, this.nextBeatAt(entry));
    }
    at = Math.max(at, this.notBefore);
    if (at >= this.timerAt && this.timer) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = unrefTimer(() => void this.run(), at - performance.now());
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    // Beat every lease that is due within the next sixth of its term too, so leases claimed
    // close together share one statement.
    const due = [...this.held.values()].filter(
      (e) => this.nextBeatAt(e) <= now + e.lease.leaseMs / 6,
    );
    if (due.length === 0) return this.schedule();
    this.beating = true;
    try {
      const alive = await this.beat(
        due.map((e) => ({ id: e.lease.id, token: e.lease.token, lease_ms: e.lease.leaseMs })),
      );
      if (this.stopped) return; // the client closed: what the beat found is nobody's business
      for (const entry of due) {
        if (this.held.get(entry.lease.id) !== entry) continue; // settled or replaced meanwhile
        if (alive.has(entry.lease.id)) {
          entry.lastBeat = now;
        } else {
          this.held.delete(entry.lease.id);
          entry.lease.onLost();
        }
      }
    } catch (error) {
      this.onError(error);
      // Try again soon: the lease still has two thirds of its term.
      const shortest = Math.min(...due.map((e) => e.lease.leaseMs));
      this.notBefore = performance.now() + Math.min(RETRY_AFTER_FAILURE_MS, shortest / 6);
    } finally {
      this.beating = false;
      this.schedule();
    }
  }
}
