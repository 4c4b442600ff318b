import { deferred, type Deferred } from "./deferred.js";

/** What one item of a coalesced statement came to: a value, or an error for that item alone. */
export type Outcome<O> = { ok: true; value: O } | { ok: false; error: unknown };

interface Entry<I, O> {
  item: I;
  resolve(value: O): void;
  reject(reason: unknown): void;
}

export interface CoalescerOptions<I> {
  /** Most items in one statement. */
  maxBatch: number;
  /** Most statements in flight at once; further items wait and join the next one. */
  maxInFlight: number;
  /** How much an item weighs (e.g. bytes of JSON); a statement carries at most `maxWeight`. */
  weigh?: (item: I) => number;
  /** A single item heavier than this still goes, alone. */
  maxWeight?: number;
}

/**
 * Merges calls made in the same turn of the event loop into one statement.
 *
 * Many concurrent `send`s (or `ack`s) in one process then cost one round trip, one transaction
 * and one NOTIFY instead of one each: every transaction that NOTIFYs takes a server-wide lock at
 * commit, so this is what lets producers scale. Items wait at most until `setImmediate`, after
 * the continuations of the previous batch have had their chance to add more.
 */
export class Coalescer<I, O> {
  private pending: Array<Entry<I, O>> = [];
  private scheduled = false;
  private inFlight = 0;
  private idle: Deferred<void> | undefined;

  constructor(
    private readonly run: (items: I[]) => Promise<Array<Outcome<O>>>,
    private readonly options: CoalescerOptions<I>,
  ) {}

  /** Adds an item to the next statement; settles with that item's outcome. */
  push(item: I): Promise<O> {
    // The entry holds the promise's own settle functions (no Deferred around them): a drain
    // pushes an ack per job, and each object here is garbage to collect.
    return new Promise<O>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      this.schedule();
    });
  }

  /** Items waiting or in flight. */
  get size(): number {
    return this.pending.length + this.inFlight;
  }

  /** Resolves once every item pushed so far has settled. */
  async drain(): Promise<void> {
    while (this.pending.length > 0 || this.inFlight > 0) {
      this.idle ??= deferred<void>();
      await this.idle.promise;
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.pending.length > 0 && this.inFlight < this.options.maxInFlight) {
      const batch = this.pending.splice(0, this.batchLength());
      this.inFlight++;
      void this.execute(batch);
    }
  }

  /** How many pending items the next statement takes: up to maxBatch, and within maxWeight. */
  private batchLength(): number {
    const { maxBatch, weigh, maxWeight } = this.options;
    if (!weigh || maxWeight === undefined) return maxBatch;
    let weight = 0;
    let count = 0;
    while (count < Math.min(maxBatch, this.pending.length)) {
      weight += weigh(this.pending[count]!.item);
      if (count > 0 && weight > maxWeight) break;
      count++;
    }
    return count;
  }

  private async execute(batch: Array<Entry<I, O>>): Promise<void> {
    try {
      const outcomes = await this.run(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => {
        const outcome = outcomes[index];
        if (!outcome) entry.reject(new Error("internal: a coalesced statement lost an item"));
        else if (outcome.ok) entry.resolve(outcome.value);
        else entry.reject(outcome.error);
      });
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    } finally {
      this.inFlight--;
      if (this.pending.length > 0) this.flush();
      else if (this.inFlight === 0 && this.idle) {
        const idle = this.idle;
        this.idle = undefined;
        idle.resolve();
      }
    }
  }
}
