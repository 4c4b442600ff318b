import { Claimer, type ConsumerHost } from "./claimer.js";
import { AbortedError, JobCancelledError, LeaseLostError, ValidationError } from "./errors.js";
import type { Job } from "./job.js";
import type { Filter } from "./options.js";
import { startProcess } from "./tracing.js";
import { checkDuration, checkOptions } from "./util/checks.js";
import { deferred } from "./util/deferred.js";
import type { Duration } from "./util/duration.js";
import { unrefTimer } from "./util/timer.js";

/**
 * A handler: its return value acks the job with that result (nothing returned is stored as
 * null); a throw nacks it with backoff.
 */
export type Handler<P, R> = (job: Job<P, R>) => R | void | Promise<R | void>;

/**
 * A pool of `concurrency` handlers fed by claims of up to `batch` jobs.
 *
 * Claims run in parallel until every slot is taken or one comes back short (the queue is empty
 * for now); then the pool waits for a wake-up. A finished job frees a slot and claims again.
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
  private readonly tasks = new Set<Promise<void>>();
  /** Jobs asked for by claims in flight. */
  private requested = 0;
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
   * Stops claiming, aborts the running jobs' signals, and waits for their handlers to finish and
   * settle (nothing is claimed ahead, so nothing else needs handing back). With `timeout`, stops
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
      while (this.tasks.size > 0) await Promise.allSettled([...this.tasks]);
      this.unwatch();
      this.stoppedDeferred.resolve();
    })();
    if (timeoutMs === undefined) return this.stopping;
    return Promise.race([
      this.stopping,
      new Promise<void>((resolve) => unrefTimer(resolve, timeoutMs)),
    ]);
  }

  private pump(): void {
    while (
      !this.stopSignal.aborted &&
      !this.waiting &&
      this.active.size + this.requested < this.concurrency
    ) {
      // After a wake-up one claim probes the queue; only a full one fans out to every free slot,
      // so a single new job does not set off `concurrency` claims in every process.
      if (this.probing && this.requested > 0) return;
      const limit = Math.min(this.batch, this.concurrency - this.active.size - this.requested);
      this.requested += limit;
      this.track(this.claim(limit));
    }
  }

  private track(task: Promise<void>): void {
    this.tasks.add(task);
    void task.finally(() => this.tasks.delete(task));
  }

  private async claim(limit: number): Promise<void> {
    const { jobs, seen } = await this.claimer.claimOnce(limit);
    this.requested -= limit;
    if (jobs.length === limit) this.probing = false;
    for (const job of jobs) this.track(this.run(job));
    if (jobs.length < limit && !this.waiting && !this.stopSignal.aborted) {
      this.waiting = true;
      await this.host.wakeups.wait(this.queue, seen, this.stopSignal);
      this.waiting = false;
      this.probing = true;
    }
    this.pump();
  }

  private async run(job: Job<unknown, unknown>): Promise<void> {
    this.active.add(job);
    job.markDelivered();
    try {
      const span = startProcess(job);
      const handle = (): R | void | Promise<R | void> => this.handler(job as Job<P, R>);
      let result: R | void;
      try {
        result = await (span ? span.run(handle) : handle());
      } catch (error) {
        span?.fail(error);
        if (!job.settled) await job.nack(error);
        return;
      }
      span?.end();
      if (job.settled) return; // the handler acked or nacked it itself
      try {
        await job.ack(result ?? undefined);
      } catch (error) {
        // A result that is not JSON cannot complete the job: fail the attempt with the reason.
        if (error instanceof ValidationError) await job.nack(error);
        else throw error;
      }
    } catch (error) {
      // A cancelled job's late ack is expected; anything else is worth reporting.
      if (!(error instanceof LeaseLostError && job.signal.reason instanceof JobCancelledError)) {
        this.host.reportError(error);
      }
    } finally {
      this.active.delete(job);
      this.pump();
    }
  }
}
