import { Cron } from "croner";
import { ValidationError } from "./errors.js";
import type { ScheduleSettings } from "./db/queries.js";
import type { SendOptions } from "./options.js";
import {
  checkAttributes,
  checkDuration,
  checkInteger,
  checkOptions,
  checkQueueName,
  INT32_MIN,
  invalid,
  optional,
} from "./util/checks.js";
import type { Duration } from "./util/duration.js";
import { toJsonText, type Json } from "./util/json.js";

/** Options of `client.schedule`: which queue, when (`cron` or `every`), and what to send. */
export interface ScheduleOptions {
  /** The queue each tick sends a job to (it must exist). */
  queue: string;
  /** A cron pattern: five fields, or six with seconds first (`"0 3 * * *"`, `"*\/10 * * * * *"`). */
  cron?: string;
  /** A fixed interval instead of `cron`, at least a second (`"1h"`, `30_000`). */
  every?: Duration;
  /** The IANA time zone `cron` is read in (default UTC). */
  timezone?: string;
  /** Each job's payload (default null). */
  payload?: unknown;
  /** Each job's options. A `key` keeps a slow run from overlapping the next one. */
  options?: Pick<SendOptions, "priority" | "attributes" | "maxAttempts" | "key">;
}

/** A schedule as `client.schedules()` reports it. */
export interface ScheduleInfo {
  name: string;
  queue: string;
  cron: string | null;
  everyMs: number | null;
  timezone: string | null;
  payload: Json;
  nextRunAt: Date;
  lastRunAt: Date | null;
  lastJobId: string | null;
}

/** The timing of a schedule, as the next tick is computed from it. */
export interface Timing {
  cron: string | null;
  everyMs: number | null;
  timezone: string | null;
}

const SCHEDULE_KEYS = ["queue", "cron", "every", "timezone", "payload", "options"] as const;
const JOB_KEYS = ["priority", "attributes", "maxAttempts", "key"] as const;
const MIN_EVERY_MS = 1000;

/** Checks `client.schedule(name, options)` before any I/O. */
export function normaliseSchedule(
  name: unknown,
  value: unknown,
  maxPayloadBytes: number,
): ScheduleSettings {
  const scheduleName = checkQueueName(name, "schedule name");
  if (value === undefined)
    invalid("schedule options", "an object with queue and cron or every", value);
  const o = checkOptions<ScheduleOptions>(value, "schedule options", SCHEDULE_KEYS);
  const queue = checkQueueName(o.queue, "schedule options.queue");
  if ((o.cron === undefined) === (o.every === undefined)) {
    throw new ValidationError(
      "schedule options.cron",
      "give schedule options.cron or options.every, exactly one of them",
    );
  }
  const everyMs = optional(o.every, null, (v) => checkDuration(v, "schedule options.every"));
  if (everyMs !== null && everyMs < MIN_EVERY_MS) {
    invalid(
      "schedule options.every",
      "at least 1s",
      o.every,
      "shorter periods are better served by a worker loop",
    );
  }
  if (o.timezone !== undefined && o.cron === undefined) {
    throw new ValidationError(
      "schedule options.timezone",
      "schedule options.timezone applies to cron only",
    );
  }
  const timing: Timing = {
    cron: optional(o.cron, null, (v) =>
      typeof v === "string" ? v : invalid("schedule options.cron", "a cron pattern", v),
    ),
    everyMs,
    timezone: optional(o.timezone, null, (v) =>
      typeof v === "string" ? v : invalid("schedule options.timezone", "an IANA time zone name", v),
    ),
  };
  if (timing.cron !== null) checkCron(timing.cron, timing.timezone);
  const job = checkOptions<NonNullable<ScheduleOptions["options"]>>(
    o.options,
    "schedule options.options",
    JOB_KEYS,
  );
  const options: Record<string, Json> = {};
  if (job.priority !== undefined)
    options.priority = checkInteger(job.priority, "schedule options.options.priority", INT32_MIN);
  if (job.attributes !== undefined)
    options.attributes = checkAttributes(job.attributes, "schedule options.options.attributes");
  if (job.maxAttempts !== undefined)
    options.max_attempts = checkInteger(job.maxAttempts, "schedule options.options.maxAttempts", 1);
  if (job.key !== undefined) {
    if (typeof job.key !== "string" || job.key.length === 0 || job.key.length > 512) {
      invalid("schedule options.options.key", "a string of 1-512 characters", job.key);
    }
    toJsonText(job.key, "schedule options.options.key"); // NUL and lone surrogates
    options.key = job.key;
  }
  return {
    name: scheduleName,
    queue,
    ...timing,
    payloadText: toJsonText(
      o.payload === undefined ? null : o.payload,
      "schedule options.payload",
      maxPayloadBytes,
    ),
    options,
  };
}

function checkCron(pattern: string, timezone: string | null): void {
  let next: Date | null;
  try {
    next = cronOf(pattern, timezone, "5-or-6-parts").nextRun();
  } catch (error) {
    const what =
      timezone !== null && /timezone/i.test(String(error))
        ? "schedule options.timezone"
        : "schedule options.cron";
    throw new ValidationError(
      what,
      `${what} is not usable: ${error instanceof Error ? error.message : String(error)}. ` +
        `Use five fields ("0 3 * * *") or six with seconds first, and an IANA time zone such as "Europe/Paris"`,
    );
  }
  // A pattern that never matches (the 30th of February) would be stored and then could not
  // be moved past its first tick.
  if (next === null) {
    throw new ValidationError(
      "schedule options.cron",
      `schedule options.cron ${JSON.stringify(pattern)} never fires: no date matches it. ` +
        `Check its day of month against its month`,
    );
  }
}

/**
 * A paused croner for `pattern`. New patterns are held to what the README documents (five
 * fields, or six with seconds first): a seventh field, a year, would let a schedule run out of
 * ticks. Stored ones are read as croner reads them by default.
 */
function cronOf(pattern: string, timezone: string | null, mode?: "5-or-6-parts"): Cron {
  return new Cron(pattern, { paused: true, timezone: timezone ?? "UTC", mode });
}

/**
 * The first tick strictly after `nowMs` (database clock). For `every`, ticks stay on the grid of
 * the last one (`fromMs`), however many were missed: one catch-up job, then back in step.
 */
export function nextTick(timing: Timing, fromMs: number, nowMs: number): Date {
  if (timing.everyMs !== null) {
    const missed = Math.max(0, Math.floor((nowMs - fromMs) / timing.everyMs));
    return new Date(fromMs + (missed + 1) * timing.everyMs);
  }
  const next = cronOf(timing.cron!, timing.timezone).nextRun(new Date(nowMs));
  if (!next) {
    throw new ValidationError(
      "schedule options.cron",
      `the cron pattern ${JSON.stringify(timing.cron)} has no tick after ${new Date(nowMs).toISOString()}. ` +
        `Replace the schedule (client.schedule) with a pattern that repeats, or remove it (client.unschedule)`,
    );
  }
  return next;
}
