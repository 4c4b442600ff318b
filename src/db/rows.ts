/**
 * Decoders for query results. Every query is read by position (postgres.js `.values()`), and
 * JSON arrives as text: a user's postgres.js instance may carry transforms such as
 * `postgres.camel`, which rename columns and even the keys inside JSON values. Reading by
 * position and parsing JSON ourselves keeps payloads exactly as they were sent.
 *
 * Each decoder documents the column order of its query in `sql/queries/`; a test runs every
 * query against PostgreSQL and checks the column names against `COLUMNS` below.
 */
import type { StoredError } from "../errors.js";
import type { QueueSettings } from "../options.js";
import type { Json } from "../util/json.js";

/** The public job states. */
export type JobState = "queued" | "running" | "completed" | "failed" | "cancelled";

/** What `getJob` and `listJobs` return: a job as `decodeJobInfo` reads it. */
const JOB_INFO_COLUMNS = [
  "id",
  "queue",
  "state",
  "priority",
  "run_at",
  "payload",
  "attributes",
  "attempt",
  "max_attempts",
  "result",
  "errors",
  "leased_by",
  "lease_expires_at",
  "created_at",
  "started_at",
  "finished_at",
] as const;

/** What `getQueue` returns, and `listQueues` before its counts: a queue as `decodeQueue` reads it. */
const QUEUE_COLUMNS = [
  "name",
  "max_attempts",
  "backoff_delay_ms",
  "backoff_factor",
  "backoff_max_ms",
  "lease_ms",
  "max_size",
  "dead_letter",
  "retention_ms",
  "created_at",
  "updated_at",
] as const;

/** What both claim statements return (unfiltered through _claim, filtered as one statement). */
const CLAIM_COLUMNS = [
  "id",
  "payload",
  "attributes",
  "attempt",
  "lease_token",
  "lease_ms",
  "waited_ms",
  "lease_expires_at",
  "trace_context",
  "more",
] as const;

/** Column names of each query's result, in order: the contract between SQL and decoder. */
export const COLUMNS = {
  claimJobs: CLAIM_COLUMNS,
  claimJobsWhere: CLAIM_COLUMNS,
  tickQueue: [
    "promoted",
    "rescued",
    "overdue",
    "next_due_ms",
    "next_expiry_ms",
    "has_ready",
    "lease_ms",
    "db_now_ms",
  ],
  jobOutcomes: ["id", "queue", "state", "attempt", "result", "last_error"],
  getJob: JOB_INFO_COLUMNS,
  listJobs: JOB_INFO_COLUMNS,
  listQueues: [
    ...QUEUE_COLUMNS,
    "queued",
    "waiting",
    "scheduled",
    "running",
    "completed",
    "failed",
    "cancelled",
  ],
  getQueue: QUEUE_COLUMNS,
} as const;

type Row = readonly unknown[];

function json<T = Json>(text: unknown): T | null {
  return typeof text === "string" ? (JSON.parse(text) as T) : null;
}

function int(value: unknown): number {
  return typeof value === "number" ? value : Number(value);
}

function intOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : int(value);
}

function date(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  return value instanceof Date ? value : new Date(value as string);
}

/** A job as a claim hands it over. */
export interface ClaimedRow {
  id: string;
  payload: Json;
  attributes: Record<string, Json> | null;
  attempt: number;
  leaseToken: string;
  leaseMs: number;
  /** How long it had been runnable when claimed (the wake-up latency), database clock. */
  waitedMs: number;
  leaseExpiresAt: Date;
  /**
   * The producer's trace context as stored (JSON text of `traceparent`/`tracestate`), or null.
   * Kept as text: only a worker with tracing on parses it.
   */
  traceContext: string | null;
}

/** What one claim statement returned: the jobs it took, and whether it left runnable ones. */
export interface ClaimResult {
  rows: ClaimedRow[];
  /**
   * For a short claim: runnable jobs are left that it could not lock (a claim or a send holds
   * them), so look again soon. Always true for a full claim.
   */
  more: boolean;
}

export function decodeClaim(rows: Row[]): ClaimResult {
  // No job taken: one row of nulls, which carries `more` alone.
  const more = rows[0]?.[9] === true;
  if (rows.length === 1 && rows[0]![0] === null) return { rows: [], more };
  return { rows: rows.map(decodeClaimed), more };
}

function decodeClaimed(row: Row): ClaimedRow {
  return {
    id: row[0] as string,
    payload: json(row[1]) as Json,
    attributes: json<Record<string, Json>>(row[2]),
    attempt: int(row[3]),
    leaseToken: row[4] as string,
    leaseMs: int(row[5]),
    waitedMs: Number(row[6]),
    leaseExpiresAt: date(row[7])!,
    traceContext: (row[8] as string | null) ?? null,
  };
}

/** What a queue's timer learned: work it did, and when to look again. */
export interface TickRow {
  promoted: number;
  rescued: number;
  /** Due or expired jobs the tick could not take (locked by someone else). */
  overdue: number;
  nextDueMs: number | null;
  nextExpiryMs: number | null;
  hasReady: boolean;
  leaseMs: number | null;
  /** The database clock when the tick ran, in Unix milliseconds. */
  dbNowMs: number;
}

export function decodeTick(row: Row): TickRow {
  return {
    promoted: int(row[0]),
    rescued: int(row[1]),
    overdue: int(row[2]),
    nextDueMs: intOrNull(row[3]),
    nextExpiryMs: intOrNull(row[4]),
    hasReady: row[5] === true,
    leaseMs: intOrNull(row[6]),
    dbNowMs: int(row[7]),
  };
}

/** Where a job stands, as a completion handle needs it. */
export interface OutcomeRow {
  id: string;
  queue: string;
  state: string;
  attempt: number;
  result: Json;
  lastError: StoredError | null;
}

export function decodeOutcome(row: Row): OutcomeRow {
  return {
    id: row[0] as string,
    queue: row[1] as string,
    state: row[2] as string,
    attempt: int(row[3]),
    result: json(row[4]) as Json,
    lastError: json<StoredError>(row[5]),
  };
}

/** A job as `queue.get(id)` reports it. */
export interface JobInfo<P = Json, R = Json> {
  id: string;
  queue: string;
  state: JobState;
  priority: number;
  runAt: Date;
  payload: P;
  attributes: Record<string, Json> | null;
  /** Deliveries so far (the current one while running). */
  attempt: number;
  maxAttempts: number | null;
  /** The value given to `ack`, once completed. */
  result: R | null;
  /** One entry per failed attempt, oldest first. */
  errors: StoredError[];
  /** The last failed attempt's error, if any. */
  lastError: StoredError | null;
  /** Which consumer holds (or last held) the job. */
  leasedBy: string | null;
  leaseExpiresAt: Date | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export function decodeJobInfo<P, R>(row: Row): JobInfo<P, R> {
  const errors = json<StoredError[]>(row[10]) ?? [];
  return {
    id: row[0] as string,
    queue: row[1] as string,
    state: row[2] as JobState,
    priority: int(row[3]),
    runAt: date(row[4])!,
    payload: json(row[5]) as P,
    attributes: json<Record<string, Json>>(row[6]),
    attempt: int(row[7]),
    maxAttempts: intOrNull(row[8]),
    result: json(row[9]) as R | null,
    errors,
    lastError: errors.at(-1) ?? null,
    leasedBy: (row[11] as string | null) ?? null,
    leaseExpiresAt: date(row[12]),
    createdAt: date(row[13])!,
    startedAt: date(row[14]),
    finishedAt: date(row[15]),
  };
}

/** A queue's stored options, as `getQueue` reads them. */
export interface QueueRow extends QueueSettings {
  createdAt: Date;
  updatedAt: Date;
}

/** A queue with its jobs counted (`client.queues()`). */
export interface QueueInfo extends QueueRow {
  /** Jobs by public state, as `queue.stats()` counts them. */
  counts: {
    queued: number;
    running: number;
    completed: number;
    failed: number;
    cancelled: number;
  };
  /** Of the queued jobs: how many wait for their `runAt` or a retry's backoff. */
  delayed: number;
  /** Of the queued jobs: how many wait for their dependencies (`after`). */
  waiting: number;
}

export function decodeQueueInfo(row: Row): QueueInfo {
  const [queued, waiting, scheduled, running, completed, failed, cancelled] = row
    .slice(11, 18)
    .map(int) as [number, number, number, number, number, number, number];
  return {
    ...decodeQueue(row),
    counts: { queued: queued + waiting + scheduled, running, completed, failed, cancelled },
    delayed: scheduled,
    waiting,
  };
}

export function decodeQueue(row: Row): QueueRow {
  return {
    name: row[0] as string,
    maxAttempts: int(row[1]),
    backoffDelayMs: int(row[2]),
    backoffFactor: Number(row[3]),
    backoffMaxMs: int(row[4]),
    leaseMs: int(row[5]),
    maxSize: intOrNull(row[6]),
    deadLetter: (row[7] as string | null) ?? null,
    retentionMs: int(row[8]),
    createdAt: date(row[9])!,
    updatedAt: date(row[10])!,
  };
}
