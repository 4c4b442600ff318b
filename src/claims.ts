import type { ClaimedRow, ClaimResult } from "./db/rows.js";
import type { Filter } from "./options.js";
import { Coalescer, type Outcome } from "./util/coalescer.js";
import { unrefTimer } from "./util/timer.js";

/** Most jobs one claim statement takes, whatever the consumers asked for together. */
export const MAX_CLAIM = 1000;
/**
 * Claim statements of one queue in flight at once: more would only queue up on the same rows at
 * the head of the claim index (each skips what the others locked).
 */
const MAX_IN_FLIGHT = 2;
/** Runnable jobs were locked: look again this soon, then less often while they stay locked. */
const RECHECK_MIN_MS = 10;
const RECHECK_MAX_MS = 1000;
/** Past this many lanes, idle ones are dropped (remote consumers each bring their own label). */
const MAX_IDLE_LANES = 100;

/** The statement claims need. */
export interface ClaimSource {
  claimJobs(queue: string, limit: number, consumer: string, filter: Filter): Promise<ClaimResult>;
}

interface Lane {
  coalescer: Coalescer<number, ClaimedRow[]>;
  /** Consecutive short claims that left locked runnable jobs behind. */
  lockedStreak: number;
  recheck: NodeJS.Timeout | undefined;
}

/**
 * Claims, with the claims of one queue, filter and consumer made in the same turn of the event
 * loop merged into one statement, as sends and acks are: when an ack frees several handler slots
 * at once, their claims cost one round trip and one commit instead of one each. Each claim still
 * gets at most the jobs it asked for, in claim order.
 *
 * A claim skips locked rows (FOR UPDATE SKIP LOCKED), and not only other claims lock runnable
 * jobs: a send whose `after` names a job locks it FOR SHARE until it commits. When a claim comes
 * back short and runnable jobs remain (the statement says so: `more`), no NOTIFY will say when
 * those locks end, so `onRecheck`
 * is called after a short delay (10 ms, doubling up to 1 s while they stay locked): consumers
 * that found nothing look again then instead of waiting for a wake-up that never comes.
 */
export class Claims {
  private readonly lanes = new Map<string, Lane>();
  private stopped = false;

  constructor(
    private readonly source: ClaimSource,
    /** Wakes the consumers of a queue. */
    private readonly onRecheck: (queue: string) => void,
  ) {}

  /**
   * Up to `limit` runnable jobs of `queue` (whose attributes contain `filter`), leased now to
   * `consumer`.
   */
  claim(queue: string, limit: number, filter: Filter, consumer: string): Promise<ClaimedRow[]> {
    const key = JSON.stringify([queue, filter, consumer]);
    let lane = this.lanes.get(key);
    if (!lane) {
      if (this.lanes.size >= MAX_IDLE_LANES) this.dropIdleLanes();
      const created: Lane = {
        coalescer: new Coalescer((limits) => this.run(created, queue, filter, consumer, limits), {
          maxBatch: MAX_CLAIM,
          maxInFlight: MAX_IN_FLIGHT,
          weigh: (wanted) => wanted,
          maxWeight: MAX_CLAIM,
        }),
        lockedStreak: 0,
        recheck: undefined,
      };
      this.lanes.set(key, (lane = created));
    }
    return lane.coalescer.push(limit);
  }

  /** Forgets lanes with nothing waiting, in flight or scheduled. */
  private dropIdleLanes(): void {
    for (const [key, lane] of this.lanes) {
      if (lane.coalescer.size === 0 && !lane.recheck) this.lanes.delete(key);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const lane of this.lanes.values()) clearTimeout(lane.recheck);
  }

  private async run(
    lane: Lane,
    queue: string,
    filter: Filter,
    consumer: string,
    limits: number[],
  ): Promise<Array<Outcome<ClaimedRow[]>>> {
    const total = limits.reduce((sum, limit) => sum + limit, 0);
    const { rows, more } = await this.source.claimJobs(queue, total, consumer, filter);
    if (rows.length < total && more) this.recheckSoon(lane, queue);
    else lane.lockedStreak = 0;
    let next = 0;
    return limits.map((limit) => {
      const share = rows.slice(next, next + limit);
      next += limit;
      return { ok: true, value: share };
    });
  }

  /** A short claim left runnable jobs it could not lock: wake the consumers again soon. */
  private recheckSoon(lane: Lane, queue: string): void {
    if (this.stopped || lane.recheck) return;
    const delay = Math.min(RECHECK_MAX_MS, RECHECK_MIN_MS * 2 ** lane.lockedStreak);
    lane.lockedStreak++;
    lane.recheck = unrefTimer(() => {
      lane.recheck = undefined;
      this.onRecheck(queue);
    }, delay);
  }
}
