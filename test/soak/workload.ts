/**
 * The soak's job mix, sent and worked by one client, and the count of every job.
 *
 * Jobs are numbered (`payload.s`, the sequence number). In every thousand, 800 go out in two
 * `sendMany` batches of 400 (one batch in four also awaits `completed`) and 200 as single sends
 * that each await `completed`. Mixed in, by sequence number: delayed jobs, jobs with a priority,
 * jobs with a (unique) dedup key, jobs whose first attempt throws (retried), single sends with one
 * attempt that always throw (`completed` must reject with JobFailedError), and dedup pairs: a
 * second send with a key still held by an unfinished job, which must get the first job's id.
 *
 * Counting: `attempts[s]` handler runs and `successes[s]` handler returns, one byte per job (a
 * million jobs cost 2 MB), and the client's `job:completed` / `job:failed` events. At the end
 * every job ran exactly as often as planned and was acked exactly once.
 */
import {
  JobFailedError,
  type Client,
  type Job,
  type Queue,
  type SendOptions,
} from "../../src/index.js";
import { deferred, type Deferred } from "../../src/util/deferred.js";

export const QUEUE = "soak";

/** What a job does, from its sequence number. */
const RETRY = 1; // its first attempt throws
const DOOMED = 2; // one attempt, always throws: fails for good
const GATED = 4; // holds its dedup key until the duplicate send got its id
const DELAYED = 8;
const KEYED = 16;
const SINGLE = 32; // sent alone (else in a sendMany batch)
const SENT = 128;

export interface SoakPayload {
  s: number;
  f: number;
}

const CHUNK = 1000;
const BATCH = 400;
const BATCHES_PER_CHUNK = 2;
/** Chunks being sent at once. */
const PARALLEL_CHUNKS = 3;
/** How long a round may take to finish once sent, before the soak says what is missing. */
const ROUND_DEADLINE_MS = 120_000;

/** The plan for job `s`: which of the flags above apply. */
export function planOf(s: number): number {
  const single = s % CHUNK >= BATCH * BATCHES_PER_CHUNK;
  let flags = single ? SINGLE : 0;
  if (single && s % 50 === 0) return flags | DOOMED;
  if (single && s % 200 === 101) return flags | GATED;
  if (s % 25 === 7) flags |= RETRY;
  if (s % 10 === 3) flags |= DELAYED;
  if (s % 20 === 11) flags |= KEYED;
  return flags;
}

function expectedAttempts(flags: number): number {
  return flags & RETRY ? 2 : 1;
}

function sendOptions(s: number, flags: number): SendOptions {
  const options: SendOptions = {};
  if (flags & DELAYED) options.delay = 50 + (s % 250);
  if (flags & KEYED) options.key = `k:${s}`;
  if (flags & DOOMED) options.maxAttempts = 1;
  if (s % 13 === 5) options.priority = 5;
  return options;
}

/** Problems found, the first 50 kept word for word. */
export class Problems {
  readonly first: string[] = [];
  count = 0;

  add(message: string): void {
    this.count++;
    if (this.first.length < 50) this.first.push(message);
  }
}

export class Workload {
  readonly queue: Queue<SoakPayload, number>;
  readonly problems = new Problems();
  /** Jobs acked / attempts nacked, from the client's events. */
  acked = 0;
  nacked = 0;
  /**
   * Longest time, this round, from a handler returning to its job's `completed` resolving (the
   * ack's commit, its `done` NOTIFY, the completion read), in ms.
   */
  slowestCompletionMs = 0;
  private readonly attempts: Uint8Array;
  private readonly successes: Uint8Array;
  /** When each job's handler returned (performance.now()); 8 bytes a job, outside the JS heap. */
  private readonly returnedAt: Float64Array;
  private readonly flags: Uint8Array;
  private expectedAcks = 0;
  private expectedNacks = 0;
  private progress: { target: () => boolean; reached: Deferred<void> } | undefined;
  /** Gated jobs wait here for their duplicate send. */
  private readonly gates = new Map<number, Deferred<void>>();

  constructor(
    client: Client,
    readonly total: number,
  ) {
    this.queue = client.queue<SoakPayload, number>(QUEUE);
    this.attempts = new Uint8Array(total);
    this.successes = new Uint8Array(total);
    this.flags = new Uint8Array(total);
    this.returnedAt = new Float64Array(total);
    client.on("job:completed", ({ queue }) => {
      if (queue !== QUEUE) return;
      this.acked++;
      this.checkProgress();
    });
    client.on("job:failed", ({ queue }) => {
      if (queue !== QUEUE) return;
      this.nacked++;
      this.checkProgress();
    });
  }

  /** The handler `queue.work` runs. */
  readonly handle = async (job: Job<SoakPayload, number>): Promise<number> => {
    const { s, f } = job.payload;
    this.attempts[s] = Math.min(255, this.attempts[s]! + 1);
    if (f & DOOMED) throw new Error(`job ${s} is doomed`);
    if (f & RETRY && job.attempt === 1) throw new Error(`job ${s} fails its first attempt`);
    // No gate left: the duplicate send is done already, nothing to hold the key for.
    if (f & GATED) await this.gates.get(s)?.promise;
    this.successes[s] = this.successes[s]! + 1;
    this.returnedAt[s] = performance.now();
    return s;
  };

  /**
   * Sends jobs `from` to `to` (exclusive), waits until every one of them finished and every
   * awaited `completed` checked out.
   */
  async round(from: number, to: number): Promise<void> {
    this.slowestCompletionMs = 0;
    for (let s = from; s < to; s++) {
      const flags = planOf(s);
      this.flags[s] = flags | SENT;
      if (flags & DOOMED) this.expectedNacks++;
      else this.expectedAcks++;
      if (flags & RETRY) this.expectedNacks++;
    }
    const checks: Array<Promise<void>> = [];
    const chunks: number[] = [];
    for (let start = from; start < to; start += CHUNK - (start % CHUNK)) chunks.push(start);
    await inParallel(chunks, PARALLEL_CHUNKS, (start) =>
      this.sendChunk(start, Math.min(to, start + CHUNK - (start % CHUNK)), checks),
    );
    await Promise.all(checks);
    await this.finished();
  }

  /** Every job sent so far finished; rejects naming what is missing after the deadline. */
  private async finished(): Promise<void> {
    const reached = deferred<void>();
    this.progress = {
      target: () => this.acked >= this.expectedAcks && this.nacked >= this.expectedNacks,
      reached,
    };
    this.checkProgress();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        reached.promise,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `jobs did not finish within ${ROUND_DEADLINE_MS / 1000} s: ` +
                    `${this.acked}/${this.expectedAcks} acked, ${this.nacked}/${this.expectedNacks} nacked`,
                ),
              ),
            ROUND_DEADLINE_MS,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.progress = undefined;
    }
  }

  private checkProgress(): void {
    if (this.progress?.target()) this.progress.reached.resolve();
  }

  /** One chunk: up to two batches, then the single sends (positions 800-999 of the thousand). */
  private async sendChunk(from: number, to: number, checks: Array<Promise<void>>): Promise<void> {
    const writes: Array<Promise<unknown>> = [];
    let s = from;
    while (s < to && !(planOf(s) & SINGLE)) {
      const end = Math.min(to, s - ((s % CHUNK) % BATCH) + BATCH);
      writes.push(this.sendBatch(s, end, checks));
      s = end;
    }
    for (; s < to; s++) writes.push(this.sendSingle(s, checks));
    await Promise.all(writes);
  }

  private async sendBatch(from: number, to: number, checks: Array<Promise<void>>): Promise<void> {
    const items = [];
    for (let s = from; s < to; s++) {
      const flags = planOf(s);
      items.push({ payload: { s, f: flags }, options: sendOptions(s, flags) });
    }
    const batch = this.queue.sendMany(items);
    // One batch in four also waits for every result, in order.
    const batchNumber =
      Math.floor(from / CHUNK) * BATCHES_PER_CHUNK + Math.floor((from % CHUNK) / BATCH);
    if (batchNumber % 4 === 0) {
      checks.push(
        batch.completed.then(
          (results) => {
            const wrong = results.findIndex((result, i) => result !== from + i);
            if (wrong >= 0)
              this.problems.add(`batch ${from}: result ${wrong} is ${results[wrong]}`);
          },
          (error: Error) =>
            this.problems.add(`batch ${from}: completed rejected: ${error.message}`),
        ),
      );
    }
    const ids = await batch.catch((error: unknown) => {
      this.problems.add(`batch ${from}: sendMany rejected: ${messageOf(error)}`);
      return [];
    });
    if (ids.length !== to - from) this.problems.add(`batch ${from}: ${ids.length} ids`);
  }

  private async sendSingle(s: number, checks: Array<Promise<void>>): Promise<void> {
    const flags = planOf(s);
    if (flags & GATED) return this.sendPair(s, flags, checks);
    const sent = this.queue.send({ s, f: flags }, sendOptions(s, flags));
    checks.push(this.checkCompleted(s, flags, sent.completed));
    await sent.catch((error: unknown) =>
      this.problems.add(`send ${s} rejected: ${messageOf(error)}`),
    );
  }

  /**
   * A dedup pair: the first job cannot finish before its gate opens, so the second send, with
   * the same key, must come back with the first job's id and follow its completion.
   */
  private async sendPair(s: number, flags: number, checks: Array<Promise<void>>): Promise<void> {
    const gate = deferred<void>();
    this.gates.set(s, gate);
    const key = `dup:${s}`;
    try {
      const first = this.queue.send({ s, f: flags }, { key });
      checks.push(this.checkCompleted(s, flags, first.completed));
      const id = await first;
      const second = this.queue.send({ s, f: flags }, { key });
      const again = await second;
      if (again !== id) this.problems.add(`dedup pair ${s}: second send got ${again}, not ${id}`);
      checks.push(this.checkCompleted(s, flags, second.completed));
    } catch (error) {
      this.problems.add(`dedup pair ${s}: ${(error as Error).message}`);
    } finally {
      gate.resolve();
      this.gates.delete(s);
    }
  }

  private async checkCompleted(
    s: number,
    flags: number,
    completed: Promise<number>,
  ): Promise<void> {
    try {
      const result = await completed;
      const ms = performance.now() - this.returnedAt[s]!;
      if (ms > this.slowestCompletionMs) this.slowestCompletionMs = ms;
      if (flags & DOOMED) this.problems.add(`job ${s} was doomed yet completed`);
      else if (result !== s) this.problems.add(`job ${s} completed with ${result}`);
    } catch (error) {
      const expected = flags & DOOMED && error instanceof JobFailedError && error.attempts === 1;
      if (!expected) this.problems.add(`job ${s}: completed rejected: ${(error as Error).message}`);
    }
  }

  /** Checks every job sent: ran as often as planned, returned once (none if doomed). */
  verify(): void {
    let sent = 0;
    for (let s = 0; s < this.total; s++) {
      const flags = this.flags[s]!;
      if (!(flags & SENT)) continue;
      sent++;
      const attempts = this.attempts[s]!;
      const successes = this.successes[s]!;
      if (attempts !== expectedAttempts(flags))
        this.problems.add(`job ${s} ran ${attempts} times, planned ${expectedAttempts(flags)}`);
      if (successes !== (flags & DOOMED ? 0 : 1))
        this.problems.add(`job ${s} returned ${successes} times`);
    }
    if (sent !== this.total) this.problems.add(`${sent} of ${this.total} jobs were sent`);
    if (this.acked !== this.expectedAcks)
      this.problems.add(`${this.acked} acks applied, expected ${this.expectedAcks}`);
    if (this.nacked !== this.expectedNacks)
      this.problems.add(`${this.nacked} nacks applied, expected ${this.expectedNacks}`);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs `task` over `items`, at most `parallel` at a time. */
async function inParallel<T>(
  items: T[],
  parallel: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, lane));
}
