import type { Completions } from "./completions.js";
import { quiet } from "./util/deferred.js";
import type { Json } from "./util/json.js";

/** What a send's handle needs from its queue. */
export interface SentHost {
  readonly name: string;
  readonly completions: Completions;
  cancel(ids: string[]): Promise<number>;
}

/**
 * How a write ended: the jobs' ids, in order (a job whose dedup key was already held has the
 * holder's id), and `xid` when it was part of a caller's transaction.
 */
export interface Written {
  ids: string[];
  xid: string | undefined;
}

/**
 * Follows one write of one or more jobs and gives out their completion promises. Ids are made on
 * the client, so a `completed` read before the insert returns registers interest before any
 * worker can finish a job; one read later registers and then reads the jobs' state.
 *
 * One reaction to the write for all the jobs of a `sendMany`, and nothing per job until someone
 * reads `completed`: a bulk send of thousands made a tracker, a reaction and two closures per job.
 */
class TrackedWrite {
  private state: "writing" | "written" | "failed" = "writing";
  private error: unknown;
  private xid: string | undefined;
  /** Made on the first read of `completed`; made while writing, they await the write's end. */
  private completions: Array<Promise<Json>> | undefined;

  constructor(
    /** The ids sent; once written, the actual ones (a held dedup key gives the holder's id). */
    private ids: readonly string[],
    write: Promise<Written>,
    private readonly queue: string,
    private readonly registry: Completions,
    inTransaction: boolean,
  ) {
    write.then(
      (written) => {
        this.state = "written";
        const sent = this.ids;
        // A copy: the written ids may be the very array the caller is handed, to change at will.
        this.ids = written.ids.slice();
        this.xid = inTransaction ? written.xid : undefined;
        if (!this.completions) return; // no interest registered while writing
        for (let i = 0; i < sent.length; i++) {
          const actual = written.ids[i]!;
          // Deduplicated: this send is the unfinished job that already held the key.
          if (actual !== sent[i]) registry.redirect(queue, sent[i]!, actual, this.xid);
          else registry.confirm(actual, this.xid);
        }
      },
      (error: unknown) => {
        this.state = "failed";
        this.error = error;
        if (this.completions) for (const id of this.ids) registry.abandon(id, error);
      },
    );
  }

  /** Each job's completion, in the order sent; the same promises on every call. */
  completed(): Array<Promise<Json>> {
    if (!this.completions) {
      if (this.state === "writing") {
        this.completions = this.ids.map((id) => this.registry.expect(this.queue, id));
      } else if (this.state === "written") {
        this.completions = this.ids.map((id) => this.registry.watch(this.queue, id, this.xid));
      } else {
        const failed = quiet(Promise.reject(this.error));
        this.completions = this.ids.map(() => failed);
      }
    }
    return this.completions;
  }
}

/**
 * The handle `queue.send` returns at once. Await it for the job id (once the job is durably
 * enqueued, or with `tx` once it is written in that transaction); `completed` settles when a
 * worker acks the job.
 *
 * @example
 * ```ts
 * const sent = q.send({ to: "a@b.c" });
 * const id = await sent;               // enqueued
 * const result = await sent.completed; // the worker's ack(result)
 * ```
 */
export class SentJob<R = Json> implements Promise<string> {
  readonly [Symbol.toStringTag] = "SentJob";
  private readonly written: Promise<string>;
  private readonly tracked: TrackedWrite;

  /** @internal */
  constructor(
    id: string,
    write: Promise<Written>,
    private readonly host: SentHost,
    inTransaction: boolean,
  ) {
    this.tracked = new TrackedWrite([id], write, host.name, host.completions, inTransaction);
    this.written = write.then((written) => written.ids[0]!);
  }

  then<A = string, B = never>(
    onfulfilled?: ((id: string) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.written.then(onfulfilled, onrejected);
  }

  catch<B = never>(
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<string | B> {
    return this.written.catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<string> {
    return this.written.finally(onfinally);
  }

  /**
   * Resolves with the result the worker gave `ack`. Rejects with `JobFailedError` (attempts
   * exhausted), `JobCancelledError`, or the send's own error. Woken by NOTIFY; a job that
   * finished before anyone asked settles at once. Never an unhandled rejection if unread.
   */
  get completed(): Promise<R> {
    // Whoever reads `completed` learns of a failed send there; do not also report it unhandled.
    void quiet(this.written);
    return this.tracked.completed()[0] as Promise<R>;
  }

  /** Cancels the job (once it is written). Resolves true if it was queued or running. */
  async cancel(): Promise<boolean> {
    const id = await this.written;
    return (await this.host.cancel([id])) > 0;
  }
}

/**
 * The handle `queue.sendMany` returns at once: the ids in order once all jobs are enqueued (one
 * statement), and `completed` with all results in order.
 *
 * @example
 * ```ts
 * const batch = q.sendMany([{ payload: 1 }, { payload: 2, options: { priority: 5 } }]);
 * const ids = await batch;
 * const results = await batch.completed;
 * ```
 */
export class SentBatch<R = Json> implements Promise<string[]> {
  readonly [Symbol.toStringTag] = "SentBatch";
  private readonly written: Promise<string[]>;
  private readonly tracked: TrackedWrite;
  private completion: Promise<R[]> | undefined;

  /** @internal */
  constructor(
    ids: string[],
    write: Promise<Written>,
    private readonly host: SentHost,
    inTransaction: boolean,
  ) {
    this.tracked = new TrackedWrite(ids, write, host.name, host.completions, inTransaction);
    this.written = write.then((written) => written.ids);
  }

  then<A = string[], B = never>(
    onfulfilled?: ((ids: string[]) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    return this.written.then(onfulfilled, onrejected);
  }

  catch<B = never>(
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<string[] | B> {
    return this.written.catch(onrejected);
  }

  finally(onfinally?: (() => void) | null): Promise<string[]> {
    return this.written.finally(onfinally);
  }

  /** All results, in the order sent; rejects with the send's error, or the first job's failure. */
  get completed(): Promise<R[]> {
    void quiet(this.written);
    if (!this.completion) {
      // Register every job's interest now (before the insert can commit), settle after the write.
      const all = quiet(Promise.all(this.tracked.completed()) as Promise<R[]>);
      this.completion = quiet(this.written.then(() => all));
    }
    return this.completion;
  }

  /** Cancels every job of the batch still queued or running; resolves with how many. */
  async cancel(): Promise<number> {
    return this.host.cancel(await this.written);
  }
}
