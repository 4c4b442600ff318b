import type { QueueInfo } from "../db/rows.js";
import type { QueueOptions } from "../options.js";

/**
 * A queue as the API shows it: its options under the names `createQueue` takes (durations in
 * milliseconds), so what GET returns can be sent back to POST or PATCH; then its counts.
 */
export function queueJson(info: QueueInfo): QueueOptions & Record<string, unknown> {
  return {
    name: info.name,
    ...queueOptions(info),
    counts: info.counts,
    delayed: info.delayed,
    waiting: info.waiting,
    createdAt: info.createdAt,
    updatedAt: info.updatedAt,
  };
}

/** A stored queue's options, as `createQueue` takes them. */
export function queueOptions(
  info: QueueInfo,
): Required<Omit<QueueOptions, "deadLetter" | "maxSize">> &
  Pick<QueueOptions, "deadLetter" | "maxSize"> {
  return {
    maxAttempts: info.maxAttempts,
    backoff: { delay: info.backoffDelayMs, factor: info.backoffFactor, max: info.backoffMaxMs },
    leaseTime: info.leaseMs,
    ...(info.maxSize === null ? {} : { maxSize: info.maxSize }),
    ...(info.deadLetter === null ? {} : { deadLetter: info.deadLetter }),
    retention: info.retentionMs,
  };
}
