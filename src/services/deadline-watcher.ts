import type { TickRow } from "../db/rows.js";
import type { ReadyNotice } from "../notify/listener.js";
import { unrefTimer } from "../util/timer.js";

/** Timers may fire a little early; the database must see the deadline as passed. */
const TIMER_SLACK_MS = 2;
const RETRY_AFTER_FAILURE_MS = 1000;
/** Overdue jobs another tick held locked: look again this soon. */
const RECHECK_OVERDUE_MS = 250;
/** A tick that took as much as it may (1000 rows) may have left more. */
const TICK_BATCH = 1000;

interface Watched {
  consumers: number;
  /** The queue's lease time, once a tick has reported it. */
  leaseMs: number | undefined;
  timer: NodeJS.Timeout | undefined;
  /** When the timer fires, on the monotonic clock (`performance.now()`). */
  timerAt: number;
  ticking: boolean;
  /** A tick was asked for while one ran. */
  again: boolean;
  /** Work became ready while the lease time was still unknown: arm one lease ahead once known. */
  awaitingLease: boolean;
}

/**
 * Time-based wake-ups without polling, for the queues this process consumes.
 *
 * Two things happen at a known time: a delayed job (or a retry's backoff) becomes due, and the
 * lease of a job whose consumer died expires. For each queue one timer is armed at the earliest
 * such deadline it knows of; when it fires, one statement (`tickQueue`) promotes due jobs, takes
 * back expired leases, and reports the next deadlines, and the timer is armed again. A queue with
 * nothing delayed, running or waiting has no timer, so an idle process sends nothing.
 *
 * Why no lease is ever missed: a job can only be claimed after it became ready, and every way of
 * becoming ready sends a `ready` NOTIFY to every consumer of the queue. On that notice the timer
 * is armed no later than one lease time ahead, which is no later than the lease of any job claimed
 * from then on can expire. When it fires, the tick sees those jobs running and arms at their
 * actual expiry.
 *
 * Deadlines are on the database clock. Ticks measure its offset from this process's clock, so a
 * notice's absolute due time (`atMs`) converts correctly even when the notice arrives late (it is
 * sent at commit, and a long transaction may commit well after the insert).
 */
export class DeadlineWatcher {
  private readonly queues = new Map<string, Watched>();
  /** Database clock minus this process's clock, in ms, once a tick has measured it. */
  private clockOffsetMs: number | undefined;
  private stopped = false;

  constructor(
    private readonly tick: (queue: string) => Promise<TickRow>,
    /** Jobs became claimable in `queue` (promoted or rescued by our own tick). */
    private readonly onWork: (queue: string) => void,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** A consumer of `queue` starts; returns the function that ends its interest. */
  watch(queue: string): () => void {
    let watched = this.queues.get(queue);
    if (!watched) {
      watched = {
        consumers: 0,
        leaseMs: undefined,
        timer: undefined,
        timerAt: Infinity,
        ticking: false,
        again: false,
        awaitingLease: false,
      };
      this.queues.set(queue, watched);
      this.arm(queue, 0); // learn the queue's deadlines now
    }
    watched.consumers++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      watched.consumers--;
      if (watched.consumers === 0) {
        clearTimeout(watched.timer);
        this.queues.delete(queue);
      }
    };
  }

  /** A `ready` notification: arm for the delayed job it announces, and for lease expiry. */
  onReady(notice: ReadyNotice): void {
    const watched = this.queues.get(notice.queue);
    if (!watched) return;
    const dueInMs =
      notice.atMs !== null && this.clockOffsetMs !== undefined
        ? notice.atMs - (Date.now() + this.clockOffsetMs)
        : notice.inMs;
    if (dueInMs !== null) this.arm(notice.queue, dueInMs + TIMER_SLACK_MS);
    // Until a tick has told us the lease time, guessing it could arm the timer far too late: tick
    // now instead (which also sees the job, if an earlier tick's snapshot did not).
    if (notice.ready > 0) {
      if (watched.leaseMs !== undefined) this.arm(notice.queue, watched.leaseMs + TIMER_SLACK_MS);
      // The tick under way learns the lease time; arming from it then is enough, and a second
      // tick per start-up burst of sends would be wasted.
      else if (watched.ticking) watched.awaitingLease = true;
      else this.arm(notice.queue, 0);
    }
  }

  /** Ticks every watched queue now (the safety poll, a reconnect). */
  tickAll(): void {
    for (const queue of this.queues.keys()) this.arm(queue, 0);
  }

  stop(): void {
    this.stopped = true;
    for (const watched of this.queues.values()) clearTimeout(watched.timer);
    this.queues.clear();
  }

  /** Arms the queue's timer `delayMs` from now, unless it is already armed earlier. */
  private arm(queue: string, delayMs: number): void {
    const watched = this.queues.get(queue);
    if (!watched || this.stopped) return;
    if (watched.ticking && delayMs <= 0) {
      watched.again = true;
      return;
    }
    const at = performance.now() + Math.max(0, delayMs);
    if (watched.timer && watched.timerAt <= at) return;
    clearTimeout(watched.timer);
    watched.timerAt = at;
    watched.timer = unrefTimer(() => void this.run(queue, watched), delayMs);
  }

  private async run(queue: string, watched: Watched): Promise<void> {
    watched.timer = undefined;
    watched.timerAt = Infinity;
    if (watched.ticking) {
      watched.again = true;
      return;
    }
    watched.ticking = true;
    let next: number | undefined;
    try {
      const sentAt = Date.now();
      const result = await this.tick(queue);
      this.clockOffsetMs = result.dbNowMs - (sentAt + Date.now()) / 2;
      if (result.leaseMs !== null) watched.leaseMs = result.leaseMs;
      if (result.promoted > 0 || result.rescued > 0) this.onWork(queue);
      next = nextDelay(result, watched.leaseMs);
    } catch (error) {
      this.onError(error);
      next = RETRY_AFTER_FAILURE_MS;
    } finally {
      watched.ticking = false;
    }
    if (this.queues.get(queue) !== watched) return; // no longer watched
    if (watched.again) {
      watched.again = false;
      next = 0;
    }
    if (watched.awaitingLease) {
      watched.awaitingLease = false;
      const leaseDelay = watched.leaseMs === undefined ? 0 : watched.leaseMs + TIMER_SLACK_MS;
      next = next === undefined ? leaseDelay : Math.min(next, leaseDelay);
    }
    if (next !== undefined) this.arm(queue, next);
  }
}

/** When to tick again, from what a tick reported; undefined when nothing is pending. */
function nextDelay(result: TickRow, leaseMs: number | undefined): number | undefined {
  if (result.promoted >= TICK_BATCH || result.rescued >= TICK_BATCH) return 0;
  const candidates: number[] = [];
  if (result.overdue > result.promoted + result.rescued) candidates.push(RECHECK_OVERDUE_MS);
  if (result.nextDueMs !== null) candidates.push(result.nextDueMs + TIMER_SLACK_MS);
  if (result.nextExpiryMs !== null) candidates.push(result.nextExpiryMs + TIMER_SLACK_MS);
  // Runnable jobs nobody has claimed yet may be claimed any moment, by a consumer that may die.
  if (result.hasReady) candidates.push((leaseMs ?? 0) + TIMER_SLACK_MS);
  return candidates.length > 0 ? Math.min(...candidates) : undefined;
}
