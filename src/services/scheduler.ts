import type { DueSchedule } from "../db/queries.js";
import { nextTick } from "../schedule.js";
import { unrefTimer } from "../util/timer.js";

const RETRY_AFTER_FAILURE_MS = 1000;
/** Timers may fire a little early; the database must see the tick as due. */
const TIMER_SLACK_MS = 2;

export interface SchedulerSource {
  /** Milliseconds until the earliest tick (database clock); null with no schedules. */
  nextIn(): Promise<number | null>;
  due(): Promise<DueSchedule[]>;
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

  constructor(
    private readonly source: SchedulerSource,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Reads when the next tick is due and arms for it (at start, and when schedules change). */
  refresh(): void {
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
      for (const schedule of await this.source.due()) {
        const after = nextTick(schedule, schedule.tickMs, schedule.nowMs);
        await this.source.fire(schedule.name, schedule.tick, after);
      }
      next = await this.source.nextIn();
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
