import { Claimer, type ConsumerHost } from "./claimer.js";
import { MAX_CLAIM } from "./claims.js";
import { AbortedError, LeaseLostError, ValidationError } from "./errors.js";
import type { Job } from "./job.js";
import type { Filter } from "./options.js";
import { startProcess } from "./tracing.js";
import { checkDuration, checkOptions } from "./util/checks.js";
import { deferred, type Deferred } from "./util/deferred.js";
import type { Duration } from "./util/duration.js";
import { atMost } from "./util/timer.js";

/** The most jobs a worker keeps claimed ahead of its handlers. */
const MAX_AHEAD = 1000;

/** An exponentially weighted moving average (the first sample stands alone). */
function average(current: number, sample: number): number {
  return current === 0 ? sample : current * 0.9 + sample * 0.1;
}

/**
 * A handler: its return value acks the job with that result (nothing returned is stored as
 * null); a throw nacks it with backoff.
 */
export type Handler<P, R> = (job: Job<P, R>) => R | void | Promise<R | void>;

/**
 * A pool of `concurrency` handlers fed by claims: after a wake-up one of `batch` + 1 jobs, then
 * one claim for all that the handlers and the buffer lack (see `pump`).
 *
 * The pool keeps jobs claimed ahead of its handlers (leased and heartbeated like running ones),
 * as many as its handlers get through in two claim round trips (see `adapt`), so a handler that
 * finishes starts the next job at once instead of waiting for a round trip; the claims of one
 * turn of the event loop share one statement (src/claims.ts). While the buffer keeps every
 * handler busy, it is topped up once a quarter of it has run. One claim is in flight at a time, so
 * jobs reach the handlers in the order the queue gives them.
 * Claims go on until the pool and its buffer are full or one comes back short (the queue is
 * empty for now); then the pool waits for a wake-up. A handler's slot is free again as soon as
 * it returns: its ack is written while the next job runs. Stopping hands the jobs claimed ahead
 * back at once, uncounted.
 *
 * With tracing on (src/tracing.ts), each handler call runs in a `process <queue>` span linked to
 * the span of the send that made the job.
 *
 * @example
 * ```ts
 * const worker = q.work(async (job) => sendEmail(job.payload), { concurrency: 10 });
 * process.on("SIGTERM", () => void worker.stop());
 * ```
 */
export class Worker<P = unknown, R = unknown> {
  private readonly stopController = new AbortController();
  private readonly concurrency: number;
  private readonly batch: number;
  private readonly stopSignal: AbortSignal;
  private readonly claimer: Claimer;
  private readonly active = new Set<Job<unknown, unknown>>();
  /** Jobs claimed ahead of the handlers, in claim order. */
  private buffer: Array<Job<unknown, unknown>> = [];
  /** How many jobs to keep claimed ahead: adapts to how fast the handlers go (see `adapt`). */
  private ahead = 0;
  /** Moving averages of a handler's run and of a claim's round trip, in ms (0: not seen yet). */
  private handlerMs = 0;
  private claimMs = 0;
  /** Handlers, claims and hand-backs under way: stop() waits for them. */
  private pendingTasks = 0;
  private noTasks: Deferred<void> | undefined;
  /** A claim is in flight: the next waits for it (see `pump`). */
  private claiming = false;
  /** A claim came back short: wait for a wake-up before claiming again. */
  private waiting = false;
  /** Claim one batch at a time until one comes back full (at start, and after each wake-up). */
  private probing = true;
  private readonly unwatch: () => void;
  private stopping: Promise<void> | undefined;
  private readonly stoppedDeferred = deferred<void>();

  /** @internal */
  constructor(
    private readonly host: ConsumerHost,
    readonly queue: string,
    private readonly handler: Handler<P, R>,
    options: { concurrency: number; batch: number; filter: Filter },
    closing: AbortSignal,
  ) {
    this.concurrency = options.concurrency;
    this.batch = options.batch;
    this.stopSignal = AbortSignal.any([this.stopController.signal, closing]);
    this.claimer = new Claimer(host, queue, options.filter, this.stopSignal);
    this.unwatch = host.watchDeadlines(queue);
    this.stopSignal.addEventListener("abort", () => void this.stop(), { once: true });
    this.pump();
  }

  /** Jobs running right now. */
  get running(): number {
    return this.active.size;
  }

  /** Resolves once the worker has stopped (by `stop()` or because the client closed). */
  get stopped(): Promise<void> {
    return this.stoppedDeferred.promise;
  }

  /**
   * Stops claiming, aborts the running jobs' signals, hands the jobs claimed ahead back at once
   * (uncounted), and waits for the handlers to finish and settle. With `timeout`, stops
   * waiting after that long: handlers still running keep their jobs (and leases) until they
   * finish, or until the client closes. Safe to call more than once.
   *
   * @example
   * ```ts
   * process.on("SIGTERM", () => void worker.stop({ timeout: "25s" }).then(() => client.close()));
   * ```
   */
  stop(options?: { timeout?: Duration }): Promise<void> {
    const { timeout } = checkOptions<{ timeout: Duration }>(options, "stop options", ["timeout"]);
    const timeoutMs =
      timeout === undefined ? undefined : checkDuration(timeout, "stop options.timeout");
    this.stopping ??= (async () => {
      this.stopController.abort();
      const reason = new AbortedError(
        "the worker is stopping: finish soon, or throw to retry the job later",
      );
      for (const job of this.active) job.abort(reason);
      this.releaseBuffered();
      while (this.pendingTasks > 0) {
        this.noTasks ??= deferred<void>();
        await this.noTasks.promise;
        this.releaseBuffered(); // claims that were in flight
      }
      this.unwatch();
      this.stoppedDeferred.resolve();
    })();
    if (timeoutMs === undefined) return this.stopping;
    return atMost(this.stopping, timeoutMs, { unref: true });
  }

  private pump(): void {
    while (
      !this.stopSignal.aborted &&
      this.active.size < this.concurrency &&
      this.buffer.length > 0
    ) {
      const job = this.buffer.shift()!;
      // Cancelled, or its lease lost, while it waited here: it was let go then (`lose`), and
      // is not ours to run any more; the receive loop skips such jobs too.
      if (job.abortedWith) continue;
      this.pendingTasks++;
      void this.run(job);
    }
    // One claim at a time: two in flight would let the second take the jobs after those the
    // first holds and answer first, running later jobs before earlier ones (concurrency 1 would
    // not be first-in, first-out). The next claim, once this one is back, asks for all that is
    // missing by then. After a wake-up, that one claim is a probe of the queue; only a full one
    // fans out to every free slot, so a single new job does not set off a claim of
    // `concurrency` jobs in every process.
    if (this.stopSignal.aborted || this.waiting || this.claiming) return;
    // Running and claimed ahead.
    const have = this.active.size + this.buffer.length;
    const room = this.concurrency + this.ahead - have;
    if (room <= 0) return;
    // While the jobs claimed ahead keep every handler busy, a claim waits until a quarter of the
    // buffer has run (`ahead` is two claim round trips of work, so the rest covers the claim with
    // room to spare; at half, a claim slowed by a busy server let the handlers run dry, ~4% of a
    // drain, now that claims do not overlap). One claim per finished job (a freed slot each) cost
    // a chain of promises per job: half the client's allocations in a drain. (`room` is at most
    // `ahead` here, so this always comes.)
    if (!this.probing && have >= this.concurrency && room < this.ahead / 4) return;
    // A probe asks for one job more than a batch: only when it gets them all is the queue deep
    // enough to fan out. One that asked for exactly what arrived would come back full for a
    // single new job and set off a claim of every free slot that finds nothing. Otherwise one
    // claim asks for all that is missing, up to what one claim statement takes.
    const limit = Math.min(this.probing ? this.batch + 1 : MAX_CLAIM, room);
    this.claiming = true;
    this.track(this.claim(limit));
  }

  /**
   * Sizes the buffer to the handlers' pace: as many jobs as the handlers get through in two
   * claim round trips, up to 1000. Fast handlers on a deep queue then take claims of hundreds of
   * jobs per statement and never wait for one; slow handlers keep next to nothing ahead, so the
   * jobs stay in the queue for idle replicas (a job claimed ahead is leased to this process, and
   * would wait a lease time if it died).
   */
  private adapt(): void {
    if (this.handlerMs === 0 || this.claimMs === 0) return;
    const perRoundTrip = (this.concurrency * this.claimMs) / this.handlerMs;
    this.ahead = Math.min(MAX_AHEAD, Math.ceil(2 * perRoundTrip));
  }

  /** Hands the jobs claimed ahead back to the queue (the worker stops). */
  private releaseBuffered(): void {
    if (this.buffer.length === 0) return;
    const jobs = this.buffer;
    this.buffer = [];
    this.track(this.host.releaseUndelivered(jobs));
  }

  private track(task: Promise<void>): void {
    this.pendingTasks++;
    void task.then(this.untrack, this.untrack);
  }

  private readonly untrack = (): void => {
    if (--this.pendingTasks > 0 || !this.noTasks) return;
    const noTasks = this.noTasks;
    this.noTasks = undefined;
    noTasks.resolve();
  };

  private async claim(limit: number): Promise<void> {
    const started = performance.now();
    // claimOnce reports and backs off, never rejects; were that to change, the flag still clears.
    const { jobs, seen } = await this.claimer
      .claimOnce(limit)
      .finally(() => (this.claiming = false));
    if (jobs.length > 0) this.claimMs = average(this.claimMs, performance.now() - started);
    if (jobs.length === limit) this.probing = false;
    this.buffer.push(...jobs);
    if (jobs.length < limit && !this.waiting && !this.stopSignal.aborted) {
      // Waiting from before the pump: the jobs it starts must not set off another claim of a
      // queue this one just found short.
      this.waiting = true;
      this.pump();
      await this.host.wakeups.wait(this.queue, seen, this.stopSignal);
      this.waiting = false;
      this.probing = true;
    }
    this.pump();
  }

  /**
   * Runs one job's handler and settles the job with what it did. One async function from claim
   * to ack, with no closures between: a drain runs thousands a second, and each layer of promises
   * is garbage to collect. Counted in `pendingTasks` by the caller; never rejects.
   */
  private async run(job: Job<unknown, unknown>): Promise<void> {
    try {
      this.active.add(job);
      job.markDelivered();
      let result: R | void = undefined;
      let failure: { error: unknown } | undefined;
      const started = performance.now();
      const span = startProcess(job);
      try {
        result = await (span
          ? span.run(() => this.handler(job as Job<P, R>))
          : this.handler(job as Job<P, R>));
        span?.end();
      } catch (error) {
        span?.fail(error);
        failure = { error };
      } finally {
        this.handlerMs = average(this.handlerMs, performance.now() - started);
        this.adapt();
        // The handler is done: its slot takes the next job while the ack is being written, so
        // claiming and acking overlap instead of taking turns (stop() still waits for the ack).
        this.active.delete(job);
        this.pump();
      }
      if (job.settled) return; // the handler acked or nacked it itself
      if (failure) await job.nack(failure.error);
      else {
        try {
          await job.ack(result ?? undefined);
        } catch (error) {
          // A result that is not JSON cannot complete the job: fail the attempt with the reason.
          if (error instanceof ValidationError) await job.nack(error);
          else throw error;
        }
      }
    } catch (error) {
      // A cancelled job's late ack is expected; anything else is worth reporting.
      if (!(error instanceof LeaseLostError && job.cancelled)) {
        this.host.reportError(error);
      }
    } finally {
      this.untrack();
    }
  }
}
