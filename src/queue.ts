import { ClientClosedError, DatabaseError, toPgwakeError } from "./errors.js";
import type { Completions } from "./completions.js";
import type { Job } from "./job.js";
import {
  checkJobId,
  normaliseCancelTarget,
  normaliseReceive,
  normaliseSend,
  normaliseSendMany,
  normaliseWork,
  type ReceiveOptions,
  type SendOptions,
  type WorkOptions,
} from "./options.js";
import { receive } from "./receiver.js";
import type { Runtime } from "./runtime.js";
import { SentBatch, SentJob, type SentHost, type Written } from "./sent-job.js";
import type { JobInfo } from "./db/rows.js";
import { quiet } from "./util/deferred.js";
import type { Json } from "./util/json.js";
import { uuidv7 } from "./util/uuid.js";
import { Worker, type Handler } from "./worker.js";

/** Job counts of a queue by state; delayed and retry-waiting jobs count as `queued`. */
export interface QueueStats {
  queued: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
}

/** One item of {@link Queue.sendMany}. */
export interface SendManyItem<P> {
  payload: P;
  options?: Omit<SendOptions, "tx" | "signal" | "timeout">;
}

/**
 * A handle to one queue, for producing, consuming and operating. Made by `client.queue(name)`
 * with no round trip; `P` types payloads and `R` results.
 *
 * @example
 * ```ts
 * const emails = client.queue<{ to: string }, { messageId: string }>("emails");
 * const { messageId } = await emails.send({ to: "a@b.c" }).completed;
 * ```
 */
export class Queue<P = Json, R = Json> implements SentHost {
  /** @internal */
  constructor(
    private readonly runtime: Runtime,
    readonly name: string,
  ) {}

  /** @internal */
  get completions(): Completions {
    return this.runtime.completions;
  }

  /**
   * Enqueues a job. Returns a {@link SentJob} at once and never throws: await it for the id, read
   * `completed` for the result. Bad input or a missing queue rejects the handle; nothing is written.
   *
   * @example
   * ```ts
   * const id = await q.send({ to: "a@b.c" }, { delay: "5m", priority: 10 });
   * ```
   */
  send(payload: P, options?: SendOptions): SentJob<R> {
    const id = uuidv7();
    let write: Promise<Written>;
    let inTransaction = false;
    try {
      this.assertOpen("send");
      const job = normaliseSend(payload, options, this.runtime.maxPayloadBytes);
      inTransaction = job.tx !== undefined;
      write = this.runtime.producer.send(this.name, id, job).then(this.announce);
    } catch (error) {
      write = Promise.reject(toPgwakeError("send", error));
    }
    return new SentJob<R>(id, write, this, inTransaction);
  }

  /**
   * Enqueues many jobs in one statement (all or none). `options` applies to the whole call
   * (`tx`, `signal`, `timeout`); each item may carry its own job options.
   *
   * @example
   * ```ts
   * const ids = await q.sendMany([{ payload: 1 }, { payload: 2, options: { priority: 5 } }]);
   * ```
   */
  sendMany(
    items: Array<SendManyItem<P>>,
    options?: Pick<SendOptions, "tx" | "signal" | "timeout">,
  ): SentBatch<R> {
    let ids: string[] = [];
    let write: Promise<Written>;
    let inTransaction = false;
    try {
      this.assertOpen("sendMany");
      const { jobs, batch } = normaliseSendMany(items, options, this.runtime.maxPayloadBytes);
      ids = jobs.map(() => uuidv7());
      inTransaction = batch.tx !== undefined;
      write = this.runtime.producer.sendMany(this.name, ids, jobs, batch).then(this.announce);
    } catch (error) {
      write = Promise.reject(toPgwakeError("sendMany", error));
    }
    return new SentBatch<R>(ids, write, this, inTransaction);
  }

  /**
   * The outcome of any job of this queue, from any process, at any time: resolves with its result,
   * rejects with `JobFailedError`, `JobCancelledError` or `JobNotFoundError`.
   */
  completion(id: string): Promise<R> {
    try {
      this.assertOpen("wait for a completion");
      return this.runtime.completions.watch(
        this.name,
        checkJobId(id, "completion id"),
      ) as Promise<R>;
    } catch (error) {
      return quiet(Promise.reject(error));
    }
  }

  /**
   * Consumes jobs one at a time: `for await (const job of q.receive())`. Settle each job with
   * `ack` or `nack`; see the README for what happens to jobs when the loop ends.
   *
   * @throws ValidationError (when iteration starts) on bad options.
   */
  async *receive(options?: ReceiveOptions): AsyncGenerator<Job<P, R>, void, undefined> {
    const { batch, signal, filter } = normaliseReceive(options);
    this.assertOpen("receive");
    const stop = signal
      ? AbortSignal.any([signal, this.runtime.closing.signal])
      : this.runtime.closing.signal;
    yield* receive<P, R>(this.runtime, this.name, { batch, filter }, stop);
  }

  /**
   * Runs `handler` on jobs, `concurrency` at a time. Its return value acks the job with that
   * result; a throw nacks it (retried with backoff). Stop with `worker.stop()` or `client.close()`.
   *
   * @throws ValidationError on bad options.
   */
  work(handler: Handler<P, R>, options?: WorkOptions): Worker<P, R> {
    const settings = normaliseWork(handler, options);
    this.assertOpen("work");
    return this.runtime.track(
      new Worker<P, R>(this.runtime, this.name, handler, settings, this.runtime.closing.signal),
    );
  }

  /** Counts of this queue's jobs by state. */
  async stats(): Promise<QueueStats> {
    this.assertOpen("read stats");
    const counts = await this.runtime.queries.queueStats(this.runtime.db, this.name);
    const count = (state: string): number => counts.get(state) ?? 0;
    return {
      queued: count("queued") + count("scheduled") + count("waiting"),
      running: count("running"),
      completed: count("completed"),
      failed: count("failed"),
      cancelled: count("cancelled"),
    };
  }

  /** A job of this queue with its state, attempts, result and errors; null if unknown. */
  async get(id: string): Promise<JobInfo<P, R> | null> {
    const jobId = checkJobId(id, "get id");
    this.assertOpen("get a job");
    return this.runtime.queries.getJob<P, R>(this.runtime.db, this.name, jobId);
  }

  /**
   * Cancels queued and running jobs, by id, ids, or `{ filter }` (every unfinished job whose
   * attributes contain the filter); resolves with how many were cancelled. Their `completed`
   * rejects with `JobCancelledError`; a running job's `signal` aborts and its ack gets
   * `LeaseLostError`; jobs waiting on them (`after`) are cancelled too.
   */
  async cancel(
    target: string | string[] | { filter: Record<string, string | number | boolean | null> },
  ): Promise<number> {
    const what = normaliseCancelTarget(target);
    this.assertOpen("cancel");
    const { queries, db } = this.runtime;
    if ("filter" in what) return (await queries.cancelJobsWhere(db, this.name, what.filter)).length;
    if (what.ids.length === 0) return 0;
    return (await queries.cancelJobs(db, this.name, what.ids)).length;
  }

  /**
   * Requeues a failed or cancelled job with a fresh set of attempts; false if it was neither, if
   * its dedup `key` is now held by another unfinished job (which keeps it), or if a job of its
   * `after` failed or was cancelled. With `after` jobs not completed yet, it waits for them again.
   */
  async retry(id: string): Promise<boolean> {
    const jobId = checkJobId(id, "retry id");
    this.assertOpen("retry");
    try {
      return await this.runtime.queries.retryJob(this.runtime.db, this.name, jobId);
    } catch (error) {
      // The unique index on unfinished jobs' keys (the job's id cannot collide): requeueing it
      // would make two unfinished jobs with one key.
      if (error instanceof DatabaseError && error.sqlState === "23505") return false;
      throw error;
    }
  }

  /** Emits `job:sent` for a write that landed. */
  private readonly announce = (written: Written): Written => {
    this.runtime.emit("job:sent", { queue: this.name, count: written.ids.length });
    return written;
  };

  private assertOpen(what: string): void {
    if (this.runtime.closing.signal.aborted) throw new ClientClosedError(what);
  }
}
