/**
 * Per-queue wake-up signals for consumers.
 *
 * A consumer reads the queue's generation, claims, and if the claim came back short waits for the
 * generation to move past what it read. Anything that may have made work available (a `ready`
 * notification, a due timer, a reconnect, the safety poll) bumps the generation, so a wake-up
 * that lands between the empty claim and the wait is never lost.
 *
 * Only queues with consumers in this process are tracked: notifications about every other queue
 * of the schema cost nothing and leave nothing behind.
 */
export class Wakeups {
  private readonly queues = new Map<
    string,
    { consumers: number; generation: number; waiters: Set<() => void> }
  >();

  /** A consumer of `queue` starts; call before its first claim. Returns the function that ends it. */
  track(queue: string): () => void {
    let entry = this.queues.get(queue);
    if (!entry)
      this.queues.set(queue, (entry = { consumers: 0, generation: 0, waiters: new Set() }));
    entry.consumers++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--entry.consumers === 0 && entry.waiters.size === 0) this.queues.delete(queue);
    };
  }

  /** The queue's current generation; pass it to {@link wait} after claiming. */
  generation(queue: string): number {
    return this.queues.get(queue)?.generation ?? 0;
  }

  /** Something may be claimable in `queue`: wake its consumers. */
  bump(queue: string): void {
    const entry = this.queues.get(queue);
    if (!entry) return;
    entry.generation++;
    const waiting = [...entry.waiters];
    entry.waiters.clear();
    for (const wake of waiting) wake();
  }

  /** Wakes every queue's consumers (after a reconnect, or on the safety poll). */
  bumpAll(): void {
    for (const queue of [...this.queues.keys()]) this.bump(queue);
  }

  /**
   * Resolves once the queue's generation passes `seen`, or at once if it already has. Resolves
   * (does not reject) when `signal` aborts; the caller checks the signal.
   */
  wait(queue: string, seen: number, signal?: AbortSignal): Promise<void> {
    const entry = this.queues.get(queue);
    if (!entry || entry.generation !== seen || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = (): void => {
        entry.waiters.delete(done);
        done();
      };
      entry.waiters.add(done);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}
