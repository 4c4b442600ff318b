import type { DueSchedule } from "../db/queries.js";
import { nextTick } from "../schedule.js";
import { unrefTimer } from "../util/timer.js";

const RETRY_AFTER_FAILURE_MS = 1000;
/** Timers may fire a little early; the database must see the tick as due. */
const TIMER_SLACK_MS = 2;

export interface SchedulerSource {
  /** Milliseconds until the earliest tick (database clock), `skip` left out; null with none. */
  nextIn(skip: readonly string[]): Promise<number | null>;
  /** The schedules whose tick has come, `skip` left out. */
  due(skip: readonly string[]): Promise<DueSchedule[]>;
  /** Compare-and-swap: moves the schedule from `tick` to `next` and enqueues, or does nothing. */
  fire(name: string, tick: string, next: Date): Promise<string | null>;
}

/**
 * Fires periodic schedules. One timer at the earliest tick of any schedule, re-read when a
 * schedule changes (the `schedule` notification), after a reconnect and on the safety poll.
 * Every client does this; the compare-and-swap in `_fire_schedule` makes each tick one job,
 * whoever gets there first.
 */
export class Scheduler {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private stopped = false;
  /**
   * Schedules whose next tick cannot be computed (a stored pattern with a year, run out): left
   * out of the reads until schedules change, since they stay due and would come first every time.
   */
  private readonly stuck = new Set<string>();
  /** Those reported already: once each. */
  private readonly reported = new Set<string>();

  constructor(
    private readonly source: SchedulerSource,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Reads when the next tick is due and arms for it (at start, and when schedules change). */
  refresh(): void {
    this.stuck.clear(); // replaced or removed, perhaps: look again
    this.arm(0);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private arm(delayMs: number): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = unrefTimer(() => void this.run(), delayMs);
  }

  private async run(): Promise<void> {
    this.running = true;
    this.again = false;
    let next: number | null;
    try {
      for (const schedule of await this.source.due([...this.stuck])) {
        let after: Date;
        try {
          after = nextTick(schedule, schedule.tickMs, schedule.nowMs);
        } catch (error) {
          // A stored pattern with no tick left (a year field, accepted before patterns were
          // held to five or six fields) stays due: it must not hold up the schedules after it.
          this.stuck.add(schedule.name);
          if (!this.reported.has(schedule.name)) {
            this.reported.add(schedule.name);
            this.onError(error);
          }
          continue;
        }
        await this.source.fire(schedule.name, schedule.tick, after);
      }
      next = await this.source.nextIn([...this.stuck]);
      if (next !== null) next = Math.max(0, next) + TIMER_SLACK_MS;
    } catch (error) {
      this.onError(error);
      next = RETRY_AFTER_FAILURE_MS;
    } finally {
      this.running = false;
    }
    if (this.again) next = 0;
    if (next !== null) this.arm(next);
  }
}
