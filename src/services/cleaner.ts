import { unrefTimer } from "../util/timer.js";

/**
 * Jobs deleted per statement: a batch starts small and doubles while batches come back full and
 * quick, so the cleaner keeps up with workers acking tens of thousands of jobs a second (at a
 * fixed 500 with a pause it managed about 3,400 a second in the soak test and fell behind), yet
 * a statement never holds its locks for long.
 */
const MIN_BATCH = 500;
const MAX_BATCH = 5000;
/** A statement slower than this halves the batch; one faster than half of it may double it. */
const SLOW_BATCH_MS = 50;
/** A breath between batches, so cleaning a large backlog never monopolises the database. */
const PAUSE_BETWEEN_BATCHES_MS = 20;
/** Another process is cleaning: look again after this. */
const BUSY_RETRY_MS = 10_000;
const RETRY_AFTER_FAILURE_MS = 5000;

export interface CleanerSource {
  /** Milliseconds until the oldest finished job outlives its retention; null when none. */
  dueIn(): Promise<number | null>;
  /** Each queue's retention, in milliseconds. */
  retentions(): Promise<Map<string, number>>;
  /** Deletes one batch; `allowed` false when another process holds the cleaning lock. */
  deleteBatch(limit: number): Promise<{ allowed: boolean; deleted: number }>;
}

/**
 * Retention: deletes finished jobs once they outlive their queue's `retention`, in small
 * batches, one process at a time. No polling: one timer at the moment the oldest finished job
 * expires. A job finishing brings that moment forward when its queue's retention ends sooner.
 * Dead-lettered copies are jobs of their dead-letter queue and follow its retention.
 */
export class Cleaner {
  private timer: NodeJS.Timeout | undefined;
  /** When the timer fires, on the monotonic clock. */
  private timerAt = Infinity;
  private running = false;
  /** The breath between two batches under way: stop() ends it, so no timer outlives the client. */
  private pause: { timer: NodeJS.Timeout; end: () => void } | undefined;
  /** Jobs finished during a run, whose reads may predate them: run again after it. */
  private again = false;
  private stopped = false;
  private retention = new Map<string, number>();

  constructor(
    private readonly source: CleanerSource,
    private readonly onError: (error: unknown) => void,
  ) {}

  /**
   * Reads when the first job expires (at start, after a reconnect, on the safety poll: a queue's
   * retention may have been shortened meanwhile).
   */
  refresh(): void {
    if (this.running) this.again = true;
    else this.arm(0);
  }

  /** Jobs of `queue` finished: they expire after its retention, perhaps before the timer. */
  onFinished(queue: string): void {
    if (this.running) {
      this.again = true;
      return;
    }
    const retentionMs = this.retention.get(queue);
    if (retentionMs === undefined)
      this.arm(0); // a queue not seen yet: read everything again
    else if (performance.now() + retentionMs < this.timerAt) this.arm(retentionMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pause) {
      clearTimeout(this.pause.timer);
      this.pause.end();
    }
  }

  private arm(delayMs: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timerAt = performance.now() + delayMs;
    this.timer = unrefTimer(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      void this.run();
    }, delayMs);
  }

  private async run(): Promise<void> {
    this.running = true;
    let next: number | null;
    try {
      this.retention = await this.source.retentions();
      next = await this.source.dueIn();
      if (next !== null && next <= 0) next = await this.clean();
    } catch (error) {
      this.onError(error);
      next = RETRY_AFTER_FAILURE_MS;
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      next = 0;
    }
    if (next !== null) this.arm(next);
  }

  /** Deletes until nothing has expired; returns when to look again. */
  private async clean(): Promise<number | null> {
    let batch = MIN_BATCH;
    for (;;) {
      if (this.stopped) return null;
      const started = performance.now();
      const { allowed, deleted } = await this.source.deleteBatch(batch);
      if (!allowed) return BUSY_RETRY_MS;
      if (deleted < batch) break;
      const tookMs = performance.now() - started;
      if (tookMs > SLOW_BATCH_MS) batch = Math.max(MIN_BATCH, batch / 2);
      else if (tookMs < SLOW_BATCH_MS / 2) batch = Math.min(MAX_BATCH, batch * 2);
      if (this.stopped) return null; // stopped during the batch: no pause to end later
      await new Promise<void>((resolve) => {
        const end = (): void => {
          this.pause = undefined;
          resolve();
        };
        this.pause = { timer: unrefTimer(end, PAUSE_BETWEEN_BATCHES_MS), end };
      });
    }
    const next = await this.source.dueIn();
    return next === null ? null : Math.max(0, next);
  }
}
