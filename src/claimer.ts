import type { Job } from "./job.js";
import type { Wakeups } from "./notify/wakeups.js";
import type { Filter } from "./options.js";

/** What a consumer loop needs from the client. */
export interface ConsumerHost {
  readonly wakeups: Wakeups;
  /**
   * Claims up to `limit` jobs of `queue` (whose attributes contain `filter`, if given); the jobs
   * are held (heartbeated) from now on.
   */
  claim(queue: string, limit: number, filter: Filter): Promise<Array<Job<unknown, unknown>>>;
  /** Hands claimed jobs that never reached a handler back, without counting the attempt. */
  releaseUndelivered(jobs: Array<Job<unknown, unknown>>): Promise<void>;
  /** A delivered job left unsettled: straight back to the queue, counting the attempt. */
  failUnsettled(job: Job<unknown, unknown>, why: string): Promise<void>;
  /** Starts timers for the queue's deadlines; returns the function that stops them. */
  watchDeadlines(queue: string): () => void;
  reportError(error: unknown): void;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Claims jobs for one consumer, waiting for a wake-up whenever the queue has none. Database errors
 * are reported and retried with backoff, never thrown: a consumer outlives a database restart.
 */
export class Claimer {
  private failures = 0;
  /** The backoff under way after a failed claim, which concurrent failures share. */
  private backoff: Promise<void> | undefined;

  constructor(
    private readonly host: ConsumerHost,
    private readonly queue: string,
    private readonly filter: Filter,
    private readonly stop: AbortSignal,
  ) {}

  /**
   * Up to `limit` jobs, waiting as long as it takes; `[]` only once `stop` aborted. Jobs claimed
   * while stopping are handed back.
   */
  async next(limit: number): Promise<Array<Job<unknown, unknown>>> {
    while (!this.stop.aborted) {
      const { jobs, seen } = await this.claimOnce(limit);
      if (jobs.length > 0) return jobs;
      await this.host.wakeups.wait(this.queue, seen, this.stop);
    }
    return [];
  }

  /**
   * One claim, without waiting. `seen` is the wake-up generation read before it: pass it to
   * `wakeups.wait` when the claim came back short.
   */
  async claimOnce(limit: number): Promise<{ jobs: Array<Job<unknown, unknown>>; seen: number }> {
    const seen = this.host.wakeups.generation(this.queue);
    let jobs: Array<Job<unknown, unknown>>;
    try {
      jobs = await this.host.claim(this.queue, limit, this.filter);
      this.failures = 0;
    } catch (error) {
      this.host.reportError(error);
      // Claims in flight together (a worker's free slots) fail together when the database goes
      // away: they wait out one backoff, which grows per round of failures, not per statement
      // (ten failing claims would otherwise jump straight to the longest wait), and is one timer
      // with one abort listener (ten would set off Node's MaxListenersExceededWarning).
      this.backoff ??= this.backOff().finally(() => (this.backoff = undefined));
      await this.backoff;
      return { jobs: [], seen: seen - 1 }; // do not wait for a wake-up: try again
    }
    if (this.stop.aborted && jobs.length > 0) {
      await this.host.releaseUndelivered(jobs);
      return { jobs: [], seen };
    }
    return { jobs, seen };
  }

  private backOff(): Promise<void> {
    this.failures++;
    const backoff = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.failures);
    return sleep(backoff * (0.8 + Math.random() * 0.4), this.stop);
  }
}
