/**
 * The one validation layer. Every public input is checked here, before any I/O, and turned into
 * a normalised form whose durations carry their unit (`leaseMs`). A problem throws a
 * ValidationError that names the option, shows what arrived and says what to do.
 */
import { hostname } from "node:os";
import type postgres from "postgres";
import { ValidationError } from "./errors.js";
import { MAX_SCHEMA_BYTES } from "./notify/channels.js";
import {
  checkAttributes,
  checkBoolean,
  checkDate,
  checkDuration,
  checkInteger,
  checkJobId,
  checkNumber,
  checkOptions,
  checkQueueName,
  checkSignal,
  checkString,
  INT32_MIN,
  invalid,
  isPlainObject,
  optional,
} from "./util/checks.js";
import type { JobState } from "./db/rows.js";
import type { Duration } from "./util/duration.js";
import { toJsonText, type Json } from "./util/json.js";
import { randomBytes } from "node:crypto";

// ---------------------------------------------------------------------------------------------
// Public option types

/** Options of {@link connect}. */
export interface ConnectOptions {
  /** A postgres:// URL. Defaults to `DATABASE_URL`. */
  url?: string;
  /** The schema holding pgwake's tables. Defaults to `PGWAKE_SCHEMA`, else `"pgwake"`. */
  schema?: string;
  /** Apply pending migrations on connect (default true). */
  migrate?: boolean;
  /**
   * Your own postgres.js instance, to share its pool and settings. pgwake reads results by
   * position and parses JSON itself, so transforms such as `postgres.camel` are fine.
   */
  sql?: postgres.Sql<Record<string, unknown>>;
  /** Pool size when pgwake makes the pool (default 10). */
  max?: number;
  /**
   * The slow safety poll: a check for missed work and completions, for the rare case a
   * notification is lost. Default `"30s"`; `false` turns it off. In poll mode (`listenUrl:
   * false`) it is how everything is found instead: default `"1s"`, at least `"50ms"`.
   */
  pollInterval?: Duration | false;
  /**
   * Where the LISTEN connection goes; by default the same server as the pool (`url`, or your
   * `sql` instance's settings). Behind a transaction pooler (PgBouncer `pool_mode = transaction`),
   * which drops LISTEN, point this at PostgreSQL itself or at a session-pooled port, and keep
   * `url` on the pooler. `false` opens no LISTEN connection at all (poll mode): workers,
   * `receive()`, delayed jobs, bounded-queue waits and `completed` handles then poll every
   * `pollInterval`.
   */
  listenUrl?: string | false;
  /** How this process names itself in a job's `leasedBy` (default `host:pid`). */
  name?: string;
  /** The largest payload or result accepted, in bytes of JSON (default 1 MiB). */
  maxPayloadSize?: number;
  /**
   * Use prepared statements (default true). Turn off behind poolers that cannot keep them
   * (PgBouncer before 1.21 in transaction mode); the pool pgwake makes then also sends one
   * statement at a time per connection, which such poolers need too.
   */
  prepare?: boolean;
}

/** Retry backoff: retry n waits `delay * factor^(n-1)`, ±20% jitter, capped at `max`. */
export interface BackoffOptions {
  /** First retry delay (default `"1s"`). */
  delay?: Duration;
  /** Growth per retry, at least 1 (default 2). */
  factor?: number;
  /** Longest delay (default `"1h"`). */
  max?: Duration;
}

/** Options of `client.createQueue`. Options left out take their defaults. */
export interface QueueOptions {
  /** Deliveries before a job fails for good (default 5). */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** A running job not heartbeated for this long is redelivered (default `"30s"`). */
  leaseTime?: Duration;
  /** Backpressure bound on unfinished jobs. */
  maxSize?: number;
  /** Failed jobs are also copied to this queue, created if missing. */
  deadLetter?: string;
  /** Finished jobs are deleted after this (default `"7d"`). */
  retention?: Duration;
}

/** A postgres.js transaction (or any instance) to enqueue inside. */
export type Transaction =
  postgres.TransactionSql<Record<string, unknown>> | postgres.Sql<Record<string, unknown>>;

/** Options of `queue.send`. */
export interface SendOptions {
  /** Run no earlier than this from now. */
  delay?: Duration;
  /** Run no earlier than this time. */
  runAt?: Date;
  /** Higher runs first (default 0); any 32-bit integer. */
  priority?: number;
  /** A flat object of strings, numbers, booleans and nulls, stored with the job. */
  attributes?: Record<string, string | number | boolean | null>;
  /** Override the queue's `maxAttempts` for this job. */
  maxAttempts?: number;
  /** Enqueue inside this postgres.js transaction: invisible and unannounced until it commits. */
  tx?: Transaction;
  /** Give up waiting (for room in a bounded queue) when this aborts. */
  signal?: AbortSignal;
  /** Give up waiting (for room in a bounded queue) after this long. */
  timeout?: Duration;
  /** Run only after these jobs completed. */
  after?: string[];
  /** Dedup key: at most one unfinished job per queue and key. */
  key?: string;
}

/** Options of `queue.receive`. */
export interface ReceiveOptions {
  /** Jobs one claim takes (default 1). */
  batch?: number;
  /** Ends the loop; unsettled and unyielded jobs go back to the queue. */
  signal?: AbortSignal;
  /** Only jobs whose attributes contain these. */
  filter?: Record<string, string | number | boolean | null>;
}

/** Options of `queue.work`. */
export interface WorkOptions {
  /** Jobs run at once (default 1). */
  concurrency?: number;
  /**
   * The first claim after a wake-up takes `batch` + 1 jobs (default 1); only when it comes back
   * full does the worker claim for its free slots and ahead of its handlers, a claim for all
   * that is missing at a time.
   */
  batch?: number;
  /** Only jobs whose attributes contain these. */
  filter?: Record<string, string | number | boolean | null>;
}

/** Options of `job.nack`. */
export interface NackOptions {
  /** Retry after this long instead of the queue's backoff. */
  delay?: Duration;
}

// ---------------------------------------------------------------------------------------------
// Normalised forms

export interface ClientSettings {
  url: string | undefined;
  schema: string;
  migrate: boolean;
  sql: postgres.Sql<Record<string, unknown>> | undefined;
  max: number;
  pollMs: number | null;
  name: string;
  maxPayloadBytes: number;
  prepare: boolean;
  /** The LISTEN connection's own URL (undefined: the pool's settings). */
  listenUrl: string | undefined;
  /** No LISTEN connection: `pollMs` drives every wait. */
  pollMode: boolean;
}

/** A queue's options as stored (durations in milliseconds). */
export interface QueueSettings {
  name: string;
  maxAttempts: number;
  backoffDelayMs: number;
  backoffFactor: number;
  backoffMaxMs: number;
  leaseMs: number;
  maxSize: number | null;
  deadLetter: string | null;
  retentionMs: number;
}

export interface NormalisedSend {
  payloadText: string;
  key: string | undefined;
  after: string[] | undefined;
  delayMs: number | undefined;
  runAt: Date | undefined;
  priority: number | undefined;
  attributes: Record<string, Json> | undefined;
  maxAttempts: number | undefined;
  tx: Transaction | undefined;
  signal: AbortSignal | undefined;
  timeoutMs: number | undefined;
}

export const DEFAULT_SCHEMA = "pgwake";
export const DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;
/** Leases longer than a day would hide a dead consumer's job for longer than anyone waits. */
export const MAX_LEASE_MS = 24 * 3_600_000;

export const QUEUE_DEFAULTS: Omit<QueueSettings, "name"> = {
  maxAttempts: 5,
  backoffDelayMs: 1000,
  backoffFactor: 2,
  backoffMaxMs: 3_600_000,
  leaseMs: 30_000,
  maxSize: null,
  deadLetter: null,
  retentionMs: 7 * 24 * 3_600_000,
};

// ---------------------------------------------------------------------------------------------
// Entry points

const CONNECT_KEYS = [
  "url",
  "schema",
  "migrate",
  "sql",
  "max",
  "pollInterval",
  "name",
  "maxPayloadSize",
  "prepare",
  "listenUrl",
] as const;

function isPostgresInstance(value: unknown): boolean {
  return (
    typeof value === "function" && typeof (value as { unsafe?: unknown }).unsafe === "function"
  );
}

export function normaliseConnect(
  arg: string | ConnectOptions | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ClientSettings {
  const field = "connect options";
  const options: Partial<ConnectOptions> =
    typeof arg === "string" ? { url: arg } : checkOptions<ConnectOptions>(arg, field, CONNECT_KEYS);
  const sql = options.sql;
  if (sql !== undefined && !isPostgresInstance(sql)) {
    invalid(
      `${field}.sql`,
      'a postgres.js instance (import postgres from "postgres"; postgres(url))',
      sql,
    );
  }
  const url = options.url ?? env.DATABASE_URL;
  if (url !== undefined && !isPostgresUrl(url)) {
    invalid(`${field}.url`, "a postgres:// or postgresql:// URL", url);
  }
  const listenUrl = options.listenUrl;
  if (listenUrl !== undefined && listenUrl !== false && !isPostgresUrl(listenUrl)) {
    invalid(
      `${field}.listenUrl`,
      "a postgres:// or postgresql:// URL, or false (poll mode)",
      listenUrl,
      "give a direct connection to PostgreSQL or a session-pooled port, for LISTEN",
    );
  }
  if (url === undefined && sql === undefined) {
    throw new ValidationError(
      `${field}.url`,
      'no database given: pass connect("postgres://user:pass@host/db"), set DATABASE_URL, or pass { sql } with your postgres.js instance',
    );
  }
  const schema = options.schema ?? env.PGWAKE_SCHEMA ?? DEFAULT_SCHEMA;
  if (
    typeof schema !== "string" ||
    schema.length === 0 ||
    Buffer.byteLength(schema) > MAX_SCHEMA_BYTES ||
    schema.includes("\u0000") ||
    !schema.isWellFormed() // a lone surrogate has no UTF-8: the server would get U+FFFD
  ) {
    invalid(
      `${field}.schema`,
      `a schema name of 1-${MAX_SCHEMA_BYTES} bytes (NOTIFY channel names are limited to 63)`,
      schema,
    );
  }
  if (schema.includes("$")) {
    // The schema name appears inside pgwake's $$-quoted function bodies, where a $ could end them.
    invalid(`${field}.schema`, "a schema name without $", schema, "choose another name");
  }
  const pollMode = listenUrl === false;
  const pollMs = normalisePollInterval(options.pollInterval, pollMode, `${field}.pollInterval`);
  return {
    url,
    schema,
    migrate: optional(options.migrate, true, (v) => checkBoolean(v, `${field}.migrate`)),
    sql,
    max: optional(options.max, 10, (v) => checkInteger(v, `${field}.max`, 1, 1000)),
    pollMs,
    // The random part tells apart several clients of one process in a job's leasedBy.
    name: optional(
      options.name,
      `${hostname()}:${process.pid}:${randomBytes(2).toString("hex")}`,
      (v) => checkString(v, `${field}.name`, 200),
    ),
    maxPayloadBytes: optional(options.maxPayloadSize, DEFAULT_MAX_PAYLOAD_BYTES, (v) =>
      checkInteger(v, `${field}.maxPayloadSize`, 1),
    ),
    prepare: optional(options.prepare, true, (v) => checkBoolean(v, `${field}.prepare`)),
    listenUrl: listenUrl === false ? undefined : listenUrl,
    pollMode,
  };
}

function isPostgresUrl(value: unknown): value is string {
  return typeof value === "string" && /^postgres(ql)?:\/\//.test(value);
}

/** The fastest poll-mode interval: each poll costs a claim and a tick per consumed queue. */
export const MIN_POLL_MODE_MS = 50;

/**
 * With a listener, the poll is a slow safety net (default 30 s, at least 1 s, or off). In poll
 * mode it is the only way anything is found, so it is faster by default and cannot be off.
 */
function normalisePollInterval(value: unknown, pollMode: boolean, field: string): number | null {
  if (pollMode) {
    if (value === false) {
      invalid(
        field,
        `a duration of at least ${MIN_POLL_MODE_MS}ms in poll mode`,
        value,
        "with listenUrl: false nothing notifies, so polling is how jobs and completions are found",
      );
    }
    const pollMs = optional(value, 1000, (v) => checkDuration(v, field, 3_600_000));
    if (pollMs < MIN_POLL_MODE_MS) {
      invalid(field, `at least ${MIN_POLL_MODE_MS}ms in poll mode`, value);
    }
    return pollMs;
  }
  if (value === false) return null;
  const pollMs = optional(value, 30_000, (v) => checkDuration(v, field, 24 * 3_600_000));
  if (pollMs < 1000) {
    invalid(
      field,
      "at least 1s, or false",
      value,
      "it is a safety net; NOTIFY does the waking (for a faster poll without NOTIFY, use poll mode: listenUrl: false)",
    );
  }
  return pollMs;
}

const QUEUE_KEYS = [
  "maxAttempts",
  "backoff",
  "leaseTime",
  "maxSize",
  "deadLetter",
  "retention",
] as const;
const BACKOFF_KEYS = ["delay", "factor", "max"] as const;

export function normaliseQueueOptions(name: string, value: unknown): QueueSettings {
  const field = "queue options";
  const options = checkOptions<QueueOptions>(value, field, QUEUE_KEYS);
  const backoff = checkOptions<BackoffOptions>(options.backoff, `${field}.backoff`, BACKOFF_KEYS);
  const d = QUEUE_DEFAULTS;

  const deadLetter = optional(options.deadLetter, null, (v) =>
    checkQueueName(v, `${field}.deadLetter`),
  );
  if (deadLetter === name) {
    invalid(
      `${field}.deadLetter`,
      "another queue's name",
      deadLetter,
      "a queue cannot be its own dead-letter queue",
    );
  }
  const leaseMs = optional(options.leaseTime, d.leaseMs, (v) =>
    checkDuration(v, `${field}.leaseTime`, MAX_LEASE_MS),
  );
  if (leaseMs < 100) {
    invalid(
      `${field}.leaseTime`,
      "at least 100ms",
      options.leaseTime,
      "heartbeats run every third of it",
    );
  }
  return {
    name,
    maxAttempts: optional(options.maxAttempts, d.maxAttempts, (v) =>
      checkInteger(v, `${field}.maxAttempts`, 1),
    ),
    backoffDelayMs: optional(backoff.delay, d.backoffDelayMs, (v) =>
      checkDuration(v, `${field}.backoff.delay`),
    ),
    backoffFactor: optional(backoff.factor, d.backoffFactor, (v) =>
      checkNumber(v, `${field}.backoff.factor`, 1, 100),
    ),
    backoffMaxMs: optional(backoff.max, d.backoffMaxMs, (v) =>
      checkDuration(v, `${field}.backoff.max`),
    ),
    leaseMs,
    maxSize: optional(options.maxSize, null, (v) => checkInteger(v, `${field}.maxSize`, 1)),
    deadLetter,
    retentionMs: optional(options.retention, d.retentionMs, (v) =>
      checkDuration(v, `${field}.retention`),
    ),
  };
}

const SEND_KEYS = [
  "delay",
  "runAt",
  "priority",
  "attributes",
  "maxAttempts",
  "tx",
  "signal",
  "timeout",
  "after",
  "key",
] as const;

export function normaliseSend(
  payload: unknown,
  value: unknown,
  maxPayloadBytes: number,
  field = "send",
): NormalisedSend {
  const payloadField = field === "send" ? "payload" : `${field}.payload`;
  if (value === undefined) {
    return withPayloadOnly(toJsonText(payload, payloadField, maxPayloadBytes));
  }
  const options = checkOptions<SendOptions>(value, `${field} options`, SEND_KEYS);
  const at = (key: string): string => `${field} options.${key}`;
  if (options.delay !== undefined && options.runAt !== undefined) {
    throw new ValidationError(at("delay"), `give ${at("delay")} or options.runAt, not both`);
  }
  const runAt = optional(options.runAt, undefined, (v) => checkDate(v, at("runAt")));
  const tx = options.tx;
  if (tx !== undefined && !isPostgresInstance(tx)) {
    invalid(at("tx"), "a postgres.js transaction (the sql given to sql.begin's callback)", tx);
  }
  return {
    payloadText: toJsonText(payload, payloadField, maxPayloadBytes),
    delayMs: optional(options.delay, undefined, (v) => checkDuration(v, at("delay"))),
    runAt,
    priority: optional(options.priority, undefined, (v) =>
      checkInteger(v, at("priority"), INT32_MIN),
    ),
    attributes: optional(options.attributes, undefined, (v) =>
      checkAttributes(v, at("attributes")),
    ),
    key: optional(options.key, undefined, (v) => checkKey(v, at("key"))),
    after: optional(options.after, undefined, (v) => checkAfter(v, at("after"))),
    maxAttempts: optional(options.maxAttempts, undefined, (v) =>
      checkInteger(v, at("maxAttempts"), 1),
    ),
    tx,
    signal: optional(options.signal, undefined, (v) => checkSignal(v, at("signal"))),
    timeoutMs: optional(options.timeout, undefined, (v) => checkDuration(v, at("timeout"))),
  };
}

/**
 * A send with no options. Its fields are those of {@link normaliseSend}'s answer, in the same
 * order, so that both make objects of one shape.
 */
function withPayloadOnly(payloadText: string): NormalisedSend {
  return {
    payloadText,
    delayMs: undefined,
    runAt: undefined,
    priority: undefined,
    attributes: undefined,
    key: undefined,
    after: undefined,
    maxAttempts: undefined,
    tx: undefined,
    signal: undefined,
    timeoutMs: undefined,
  };
}

/**
 * Whether a `sendMany` item is `{ payload }` (options absent or undefined), the usual shape. The
 * options are read as the general way reads them, so a getter or an inherited one counts.
 */
function isPayloadOnly(item: unknown): item is { payload: unknown } {
  if (!isPlainObject(item) || !("payload" in item) || item.options !== undefined) return false;
  for (const key in item) if (key !== "payload" && key !== "options") return false;
  return true;
}

export interface ManyItem {
  payload: unknown;
  options?: SendOptions;
}

const MANY_ITEM_KEYS = ["payload", "options"] as const;
const BATCH_WIDE = ["tx", "signal", "timeout"] as const;

/** Checks a `sendMany` list; per-item `tx`, `signal` and `timeout` belong to the whole call. */
export function normaliseSendMany(
  items: unknown,
  value: unknown,
  maxPayloadBytes: number,
): { jobs: NormalisedSend[]; batch: NormalisedSend } {
  if (!Array.isArray(items)) invalid("sendMany items", "an array of { payload, options }", items);
  checkOptions<SendOptions>(value, "sendMany options", BATCH_WIDE);
  const batch = normaliseSend(null, value, maxPayloadBytes, "sendMany");
  const jobs = items.map((item, index) => {
    // The usual item, { payload }, without the checks of absent options and with the field's name
    // made only for an error (a bulk send of thousands: those were most of its garbage).
    if (isPayloadOnly(item)) {
      const name = (): string => `sendMany items[${index}].payload`;
      return withPayloadOnly(toJsonText(item.payload, name, maxPayloadBytes));
    }
    const field = `sendMany items[${index}]`;
    const entry = checkOptions<ManyItem>(item, field, MANY_ITEM_KEYS);
    if (!("payload" in entry)) {
      throw new ValidationError(
        `${field}.payload`,
        `${field} has no payload: pass { payload, options? }`,
      );
    }
    for (const key of BATCH_WIDE) {
      if (entry.options && key in entry.options) {
        throw new ValidationError(
          `${field}.options.${key}`,
          `${key} applies to the whole sendMany call: pass it as sendMany(items, { ${key} })`,
        );
      }
    }
    return normaliseSend(entry.payload, entry.options, maxPayloadBytes, field);
  });
  return { jobs, batch };
}

const RECEIVE_KEYS = ["batch", "signal", "filter"] as const;
const WORK_KEYS = ["concurrency", "batch", "filter"] as const;

/** A consumer's filter: jobs whose attributes contain all of these (null: every job). */
export type Filter = Record<string, Json> | null;

function checkFilter(value: unknown, field: string): Filter {
  return optional(value, null, (v) => checkAttributes(v, field));
}

export function normaliseReceive(value: unknown): {
  batch: number;
  signal: AbortSignal | undefined;
  filter: Filter;
} {
  const options = checkOptions<ReceiveOptions>(value, "receive options", RECEIVE_KEYS);
  return {
    batch: optional(options.batch, 1, (v) => checkInteger(v, "receive options.batch", 1, 1000)),
    signal: optional(options.signal, undefined, (v) => checkSignal(v, "receive options.signal")),
    filter: checkFilter(options.filter, "receive options.filter"),
  };
}

export function normaliseWork(
  handler: unknown,
  value: unknown,
): { concurrency: number; batch: number; filter: Filter } {
  if (typeof handler !== "function") invalid("work handler", "a function (job) => result", handler);
  const options = checkOptions<WorkOptions>(value, "work options", WORK_KEYS);
  return {
    filter: checkFilter(options.filter, "work options.filter"),
    concurrency: optional(options.concurrency, 1, (v) =>
      checkInteger(v, "work options.concurrency", 1, 10_000),
    ),
    batch: optional(options.batch, 1, (v) => checkInteger(v, "work options.batch", 1, 1000)),
  };
}

export function normaliseNack(value: unknown): { delayMs: number | null } {
  const options = checkOptions<NackOptions>(value, "nack options", ["delay"]);
  return { delayMs: optional(options.delay, null, (v) => checkDuration(v, "nack options.delay")) };
}

/** `cancel` takes an id, a list of ids, or `{ filter }` (every unfinished job that matches). */
export function normaliseCancelTarget(
  value: unknown,
): { ids: string[] } | { filter: Record<string, Json> } {
  if (typeof value === "string") return { ids: [checkJobId(value, "cancel id")] };
  if (Array.isArray(value)) {
    return { ids: value.map((id, index) => checkJobId(id, `cancel ids[${index}]`)) };
  }
  if (isPlainObject(value) && Object.keys(value).length === 1 && "filter" in value) {
    const filter = checkAttributes(value.filter, "cancel filter");
    if (Object.keys(filter).length === 0) {
      throw new ValidationError(
        "cancel filter",
        "cancel filter {} would cancel every job of the queue: name at least one attribute",
      );
    }
    return { filter };
  }
  return invalid(
    "cancel target",
    "a job id, an array of job ids, or { filter: { attribute: value } }",
    value,
  );
}

/** A query for `client.jobs()`: a page of jobs, newest first. */
export interface JobsQuery {
  /** Only jobs of this queue. */
  queue?: string;
  /** Only jobs in this public state. */
  state?: JobState;
  /** How many (1-1000, default 50). */
  limit?: number;
  /** Where the previous page ended (its `nextCursor`). */
  cursor?: string;
}

export const JOB_STATES: readonly JobState[] = [
  "queued",
  "running",
  "completed",
  "failed",
  "cancelled",
];

export function normaliseJobsQuery(value: unknown): {
  queue: string | null;
  state: JobState | null;
  limit: number;
  before: string | null;
} {
  const query = checkOptions<JobsQuery>(value, "jobs query", ["queue", "state", "limit", "cursor"]);
  return {
    queue: optional(query.queue, null, (v) => checkQueueName(v, "jobs query.queue")),
    state: optional(query.state, null, (v) => {
      if (!JOB_STATES.includes(v as JobState)) {
        invalid("jobs query.state", `one of ${JOB_STATES.join(", ")}`, v);
      }
      return v as JobState;
    }),
    limit: optional(query.limit, 50, (v) => checkInteger(v, "jobs query.limit", 1, 1000)),
    before: optional(query.cursor, null, (v) =>
      checkJobId(v, "jobs query.cursor (the nextCursor of the previous page)"),
    ),
  };
}

/** Dedup keys: 1-512 characters. */
function checkKey(value: unknown, field: string): string {
  if (typeof value !== "string" || value.length === 0 || value.length > 512) {
    invalid(field, "a string of 1-512 characters", value);
  }
  toJsonText(value, field); // NUL and lone surrogates
  return value;
}

/** Dependencies: job ids (at most 1000). */
function checkAfter(value: unknown, field: string): string[] {
  if (!Array.isArray(value)) invalid(field, "an array of job ids", value);
  if (value.length > 1000) invalid(field, "at most 1000 job ids", value);
  return [...new Set(value.map((id, index) => checkJobId(id, `${field}[${index}]`)))];
}

export { checkDuration, checkJobId, checkOptions, checkQueueName };
