import type { LeaseRef } from "../db/queries.js";

/** A lease this process holds. */
export interface HeldLease extends LeaseRef {
  leaseMs: number;
  /** Called when a beat finds the lease gone (redelivered, cancelled or finished elsewhere). */
  onLost(): void;
}

const RETRY_AFTER_FAILURE_MS = 1000;

interface Entry {
  lease: HeldLease;
  /** When the lease was last extended, by this process's clock. */
  lastBeat: number;
}

/**
 * Keeps this process's leases alive: one statement per beat for every job held, not one per job.
 * A lease of L is extended every L/3, so two beats can fail before it expires. Jobs that finish
 * sooner than that are never beaten at all; an idle process sends nothing.
 */
export class Heartbeat {
  private readonly held = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private beating = false;
  private stopped = false;
  /** After a failed beat, wait this long before the next try. */
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
    this.held.set(lease.id, { lease, lastBeat: Date.now() });
    this.schedule();
  }

  drop(id: string): void {
    this.held.delete(id);
    if (this.held.size === 0) this.clearTimer();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  private nextBeatAt(entry: Entry): number {
    return entry.lastBeat + entry.lease.leaseMs / 3;
  }

  private schedule(): void {
    if (this.stopped || this.beating || this.held.size === 0) return;
    let at = Infinity;
    for (const entry of this.held.values()) at = Math.min(at, this.nextBeatAt(entry));
    at = Math.max(at, this.notBefore);
    if (at >= this.timerAt && this.timer) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(() => void this.run(), Math.max(0, at - Date.now()));
    this.timer.unref();
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = Date.now();
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
      for (const entry of due) {
        if (this.held.get(entry.lease.id) !== entry) continue; // settled meanwhile
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
      this.notBefore = Date.now() + Math.min(RETRY_AFTER_FAILURE_MS, shortest / 6);
    } finally {
      this.beating = false;
      this.schedule();
    }
  }
}
