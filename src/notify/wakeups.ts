/**
 * Per-queue wake-up signals for consumers.
 *
 * A consumer reads the queue's generation, claims, and if the claim came back short waits for the
 * generation to move past what it read. Anything that may have made work available (a `ready`
 * notification, a due timer, a reconnect, the safety poll) bumps the generation, so a wake-up
 * that lands between the empty claim and the wait is never lost.
 */
export class Wakeups {
  private readonly generations = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();

  /** The queue's current generation; pass it to {@link wait} after claiming. */
  generation(queue: string): number {
    return this.generations.get(queue) ?? 0;
  }

  /** Something may be claimable in `queue`: wake its consumers. */
  bump(queue: string): void {
    this.generations.set(queue, this.generation(queue) + 1);
    const waiting = this.waiters.get(queue);
    if (!waiting) return;
    this.waiters.delete(queue);
    for (const wake of waiting) wake();
  }

  /** Wakes every queue's consumers (after a reconnect, or on the safety poll). */
  bumpAll(): void {
    for (const queue of new Set([...this.generations.keys(), ...this.waiters.keys()]))
      this.bump(queue);
  }

  /**
   * Resolves once the queue's generation passes `seen`, or at once if it already has. Resolves
   * (does not reject) when `signal` aborts; the caller checks the signal.
   */
  wait(queue: string, seen: number, signal?: AbortSignal): Promise<void> {
    if (this.generation(queue) !== seen || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      let waiting = this.waiters.get(queue);
      if (!waiting) this.waiters.set(queue, (waiting = new Set()));
      const done = (): void => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = (): void => {
        this.waiters.get(queue)?.delete(done);
        done();
      };
      waiting.add(done);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}
