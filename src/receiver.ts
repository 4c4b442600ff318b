import { Claimer, type ConsumerHost } from "./claimer.js";
import { AbortedError } from "./errors.js";
import type { Job } from "./job.js";
import type { Filter } from "./options.js";

/**
 * The `for await` consumer. Claims `batch` jobs at a time into a local buffer and yields them one
 * by one. The contract, whatever way the loop ends:
 *
 * - a yielded job the loop moved past without `ack` or `nack` goes back to the queue for another
 *   attempt (the attempt counts: it was delivered);
 * - jobs claimed but not yet yielded go back at once, their attempt not counted;
 * - when `signal` aborts or the client closes, the loop ends at its next wait, and the signal of
 *   the job in hand aborts.
 */
export async function* receive<P, R>(
  host: ConsumerHost,
  queue: string,
  options: { batch: number; filter: Filter },
  stop: AbortSignal,
): AsyncGenerator<Job<P, R>, void, undefined> {
  const unwatch = host.watchDeadlines(queue);
  const claimer = new Claimer(host, queue, options.filter, stop);
  const buffer: Array<Job<unknown, unknown>> = [];
  let current: Job<unknown, unknown> | undefined;
  const onStop = (): void => {
    const reason = new AbortedError(
      "the receive loop is stopping: settle the job or let it go back to the queue",
    );
    current?.abort(reason);
    for (const job of buffer) job.abort(reason);
  };
  stop.addEventListener("abort", onStop, { once: true });
  try {
    while (!stop.aborted) {
      if (buffer.length === 0) {
        buffer.push(...(await claimer.next(options.batch)));
        if (buffer.length === 0) return;
      }
      current = buffer.shift()!;
      // Cancelled or lost while it waited in the buffer: it is not ours to hand out any more.
      if (current.abortedWith) continue;
      current.markDelivered();
      yield current as Job<P, R>;
      if (!current.settled)
        await host.failUnsettled(current, "the receive loop moved on without ack or nack");
      current = undefined;
    }
  } finally {
    stop.removeEventListener("abort", onStop);
    unwatch();
    if (current && !current.settled) {
      await host.failUnsettled(current, "the receive loop ended without ack or nack");
    }
    // Jobs cancelled or lost meanwhile are skipped by the fenced release statement.
    const undelivered = buffer.splice(0);
    if (undelivered.length > 0) await host.releaseUndelivered(undelivered);
  }
}
