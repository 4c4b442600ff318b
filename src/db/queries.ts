import { toPgwakeError } from "../errors.js";
import type { QueueSettings } from "../options.js";
import type { Json } from "../util/json.js";
import {
  decodeClaim,
  decodeJobInfo,
  decodeOutcome,
  decodeQueue,
  decodeQueueInfo,
  decodeTick,
  type ClaimResult,
  type JobInfo,
  type JobState,
  type OutcomeRow,
  type QueueInfo,
  type QueueRow,
  type TickRow,
} from "./rows.js";
import { checkRan, compactRows, connectionLost } from "./orphans.js";
import type { Pool } from "./pool.js";
import { arrayLiteral } from "./pool-options.js";
import { queryBlocks, renderSql } from "./sql-files.js";

/**
 * Anything that runs SQL: the client's postgres.js instance, a reserved connection, or a user's
 * transaction (`tx`). Only `unsafe` is used, with named statements from `sql/queries/`.
 */
export interface Db {
  unsafe(
    query: string,
    parameters?: never[],
    options?: { prepare?: boolean },
  ): { values(): PromiseLike<unknown[][]> };
}

export const QUERY_NAMES = [
  "insertJobs",
  "claimJobs",
  "claimJobsWhere",
  "tickQueue",
  "heartbeatJobs",
  "completeJobs",
  "failJobs",
  "releaseJobs",
  "jobOutcomes",
  "jobStates",
  "transactionStates",
  "getJob",
  "listJobs",
  "extendLease",
  "cancelJobs",
  "cancelJobsWhere",
  "retryJob",
  "queueStats",
  "upsertQueue",
  "getQueue",
  "listQueues",
  "deleteQueue",
  "retentionDueIn",
  "queueRetentions",
  "deleteExpired",
  "upsertSchedule",
  "deleteSchedule",
  "databaseNow",
  "nextScheduleIn",
  "dueSchedules",
  "fireSchedule",
  "listSchedules",
  "notifyProbe",
] as const;

export type QueryName = (typeof QUERY_NAMES)[number];

/**
 * Statements run unprepared so that each call gets a plan for its values. `listJobs` has optional
 * filters (those not given fold away and partial indexes become usable): an operator read, where
 * planning each time costs less than a generic plan's scan would. `claimJobsWhere` needs a plan
 * for its filter: a selective one reads the GIN index on attributes, a broad one the claim index
 * in order; one generic plan for every filter would serve some of them with the wrong index.
 */
export const PLANNED_PER_CALL: ReadonlySet<QueryName> = new Set(["listJobs", "claimJobsWhere"]);

/**
 * How long a statement orphaned by a broken connection (src/db/orphans.ts) is waited for. pgwake's
 * own statements are small (at most 1,000 rows) and answer in milliseconds; these may be as large
 * as the user makes them (`sendMany`, cancelling by filter, listings), so they get longer.
 */
const ORPHAN_GRACE_MS = 5_000;
const ORPHAN_GRACE_LARGE_MS = 60_000;
const LARGE: ReadonlySet<QueryName> = new Set([
  "insertJobs",
  "cancelJobsWhere",
  "listJobs",
  "listQueues",
  "queueStats",
  "deleteQueue",
]);

/** The internal states behind each public one (delayed and blocked jobs count as queued). */
const INTERNAL_STATES: Record<JobState, string[]> = {
  queued: ["queued", "scheduled", "waiting"],
  running: ["running"],
  completed: ["completed"],
  failed: ["failed"],
  cancelled: ["cancelled"],
};

/** One row of an `insertJobs` batch. */
export interface InsertRow {
  id: string;
  queue: string;
  /** The payload, already serialised and checked. */
  payloadText: string;
  attributes?: Record<string, Json> | undefined;
  priority?: number | undefined;
  delay_ms?: number | undefined;
  run_at?: string | undefined;
  max_attempts?: number | undefined;
  key?: string | undefined;
  after?: string[] | undefined;
  /** The send's trace context, JSON text (src/tracing.ts); left out when tracing is off. */
  trace_context?: string | undefined;
}

/** What `_enqueue` made of one job (see migration 0002). */
export type EnqueueStatus =
  "inserted" | "existing" | "conflict" | "full" | "no_queue" | "unknown_after" | "skipped";

export interface EnqueueResult {
  id: string;
  status: EnqueueStatus;
  /** With `existing`: the unfinished job that holds the key. */
  existingId: string | null;
  /** With `unknown_after`: the missing ids. */
  detail: string | null;
}

/**
 * What one insert statement did: how many jobs it inserted, and the verdict on every job it did
 * not insert, by id (a job not in `others` was inserted).
 */
export interface InsertOutcome {
  inserted: number;
  others: Map<string, EnqueueResult>;
  xid: string | undefined;
}

/** A lease a consumer holds: the job and the token its claim returned. */
export interface LeaseRef {
  id: string;
  token: string;
}

/**
 * The typed statements of one schema. Runtime code never builds SQL: it calls these, and each
 * runs one named block from `sql/queries/` as a prepared statement.
 */
export class Queries {
  private readonly texts = new Map<QueryName, string>();

  constructor(
    readonly schema: string,
    private readonly prepare: boolean,
    /** The client's pool, whose statements are watched for orphans (src/db/pool.ts). */
    private readonly pool?: Pick<Pool, "db" | "watch" | "failed">,
  ) {
    const blocks = queryBlocks();
    for (const name of QUERY_NAMES) {
      const block = blocks.get(name);
      if (!block) throw new Error(`internal: sql/queries has no block named ${name}`);
      this.texts.set(name, renderSql(block, schema));
    }
  }

  /** The rendered text of a statement (for tests and EXPLAIN). */
  text(name: QueryName): string {
    return this.texts.get(name)!;
  }

  /** Runs a statement and returns its rows as arrays; driver errors become PgwakeErrors. */
  async run(db: Db, name: QueryName, params: unknown[]): Promise<unknown[][]> {
    const pool = db === this.pool?.db ? this.pool : undefined;
    try {
      const statement = db
        .unsafe(this.text(name), params as never[], {
          prepare: this.prepare && !PLANNED_PER_CALL.has(name),
        })
        .values();
      const grace = LARGE.has(name) ? ORPHAN_GRACE_LARGE_MS : ORPHAN_GRACE_MS;
      const rows = await (pool ? pool.watch(statement, grace) : statement);
      checkRan(rows);
      return compactRows(rows);
    } catch (error) {
      pool?.failed(error);
      throw toPgwakeError(name, error);
    }
  }

  /**
   * Runs a statement that always answers one row, and returns that row. No row is a driver fault
   * (src/db/orphans.ts), refused as a connection error so that it is retried, not read as data.
   */
  private async one(db: Db, name: QueryName, params: unknown[]): Promise<unknown[]> {
    const rows = await this.run(db, name, params);
    if (!rows[0]) {
      // What the driver handed back instead, to tell a lost answer from someone else's.
      const command = (rows as { command?: unknown }).command;
      throw toPgwakeError(
        name,
        connectionLost(`the statement's answer (${String(command)}) has no row`),
      );
    }
    return rows[0];
  }

  /**
   * Enqueues jobs through `_enqueue`: how many were inserted, the verdict on each job that was
   * not (by id), and the writing transaction's id (which tells a rolled-back `tx` send from one
   * not yet committed). `atomic`: bad input anywhere writes nothing. Throws when the counts do
   * not add up to the jobs sent, so no caller can take a lost job for an inserted one.
   */
  async insertJobs(db: Db, rows: InsertRow[], atomic: boolean): Promise<InsertOutcome> {
    const result = await this.run(db, "insertJobs", [encodeInsertRows(rows), atomic]);
    const others = new Map<string, EnqueueResult>();
    let inserted = 0;
    let xid: string | undefined;
    for (const row of result) {
      if (row[0] === null) {
        inserted = Number(row[3]);
        xid = row[4] as string;
        continue;
      }
      others.set(row[0] as string, {
        id: row[0] as string,
        status: row[1] as EnqueueStatus,
        existingId: (row[2] as string | null) ?? null,
        detail: (row[3] as string | null) ?? null,
      });
    }
    if (inserted + others.size !== rows.length) {
      throw new Error(
        `internal: _enqueue answered for ${inserted + others.size} of ${rows.length} jobs`,
      );
    }
    return { inserted, others, xid };
  }

  async transactionStates(db: Db, xids: string[]): Promise<Map<string, string | null>> {
    const rows = await this.run(db, "transactionStates", [arrayLiteral(xids)]);
    return new Map(rows.map((row) => [row[0] as string, (row[1] as string | null) ?? null]));
  }

  async claimJobs(
    db: Db,
    queue: string,
    limit: number,
    consumer: string,
    filter: Record<string, Json> | null,
  ): Promise<ClaimResult> {
    const rows = filter
      ? await this.run(db, "claimJobsWhere", [queue, limit, consumer, JSON.stringify(filter)])
      : await this.run(db, "claimJobs", [queue, limit, consumer]);
    return decodeClaim(rows);
  }

  async tickQueue(db: Db, queue: string): Promise<TickRow> {
    return decodeTick(await this.one(db, "tickQueue", [queue]));
  }

  /** Extends leases; returns the ids still held. */
  async heartbeatJobs(
    db: Db,
    leases: Array<LeaseRef & { lease_ms: number }>,
  ): Promise<Set<string>> {
    return idSet(await this.run(db, "heartbeatJobs", [JSON.stringify(leases)]));
  }

  /** Completes jobs; returns the leases (`leaseKey`) it could not apply (lost). */
  async completeJobs(db: Db, acks: Array<LeaseRef & { resultText: string }>): Promise<Set<string>> {
    // Results are spliced in as the JSON text Job.ack already checked, not parsed and re-serialised.
    const batch = acks.map(
      (a) =>
        `{"id":${JSON.stringify(a.id)},"token":${JSON.stringify(a.token)},"result":${a.resultText}}`,
    );
    return leaseSet(await this.run(db, "completeJobs", [`[${batch.join(",")}]`]));
  }

  /** Fails (retries or finally fails) jobs; returns the leases (`leaseKey`) it could not apply. */
  async failJobs(
    db: Db,
    nacks: Array<LeaseRef & { error: Json; delay_ms: number | null }>,
  ): Promise<Set<string>> {
    return leaseSet(await this.run(db, "failJobs", [JSON.stringify(nacks)]));
  }

  /** Puts claimed, never-delivered jobs back; returns the leases (`leaseKey`) not released. */
  async releaseJobs(db: Db, leases: LeaseRef[]): Promise<Set<string>> {
    return leaseSet(await this.run(db, "releaseJobs", [JSON.stringify(leases)]));
  }

  async jobOutcomes(db: Db, ids: string[]): Promise<OutcomeRow[]> {
    return (await this.run(db, "jobOutcomes", [arrayLiteral(ids)])).map(decodeOutcome);
  }

  /** NOTIFYs a probe naming `token` on the `ready` channel (see `Listener.verify`). */
  async notifyProbe(db: Db, token: string): Promise<void> {
    await this.run(db, "notifyProbe", [token]);
  }

  async jobStates(db: Db, ids: string[]): Promise<Map<string, string>> {
    const rows = await this.run(db, "jobStates", [arrayLiteral(ids)]);
    return new Map(rows.map((row) => [row[0] as string, row[1] as string]));
  }

  /** A job of `queue` (of any queue when `queue` is null). */
  async getJob<P, R>(db: Db, queue: string | null, id: string): Promise<JobInfo<P, R> | null> {
    const rows = await this.run(db, "getJob", [id, queue]);
    return rows[0] ? decodeJobInfo<P, R>(rows[0]) : null;
  }

  /** A page of jobs, newest first; `before` is the last id of the previous page. */
  async listJobs(
    db: Db,
    query: { queue: string | null; state: JobState | null; before: string | null; limit: number },
  ): Promise<JobInfo[]> {
    const rows = await this.run(db, "listJobs", [
      query.queue,
      query.state === null ? null : `{${INTERNAL_STATES[query.state].join(",")}}`,
      query.before,
      query.limit,
    ]);
    return rows.map((row) => decodeJobInfo(row));
  }

  /** Extends one lease by its queue's lease time; its new expiry, or null if it is gone. */
  async extendLease(db: Db, lease: LeaseRef): Promise<Date | null> {
    const rows = await this.run(db, "extendLease", [lease.id, lease.token]);
    return (rows[0]?.[0] as Date | undefined) ?? null;
  }

  async cancelJobs(db: Db, queue: string, ids: string[]): Promise<string[]> {
    return (await this.run(db, "cancelJobs", [queue, arrayLiteral(ids)])).map(
      (row) => row[0] as string,
    );
  }

  async cancelJobsWhere(db: Db, queue: string, filter: Record<string, Json>): Promise<string[]> {
    const rows = await this.run(db, "cancelJobsWhere", [queue, JSON.stringify(filter)]);
    return rows.map((row) => row[0] as string);
  }

  async retryJob(db: Db, queue: string, id: string): Promise<boolean> {
    return (await this.run(db, "retryJob", [queue, id])).length > 0;
  }

  async queueStats(db: Db, queue: string): Promise<Map<string, number>> {
    const rows = await this.run(db, "queueStats", [queue]);
    return new Map(rows.map((row) => [row[0] as string, Number(row[1])]));
  }

  async upsertQueue(db: Db, q: QueueSettings): Promise<void> {
    await this.run(db, "upsertQueue", [
      q.name,
      q.maxAttempts,
      q.backoffDelayMs,
      q.backoffFactor,
      q.backoffMaxMs,
      q.leaseMs,
      q.maxSize,
      q.deadLetter,
      q.retentionMs,
    ]);
  }

  async getQueue(db: Db, name: string): Promise<QueueRow | null> {
    const rows = await this.run(db, "getQueue", [name]);
    return rows[0] ? decodeQueue(rows[0]) : null;
  }

  /** Every queue (or just `name`) with its jobs counted. */
  async listQueues(db: Db, name: string | null = null): Promise<QueueInfo[]> {
    return (await this.run(db, "listQueues", [name])).map(decodeQueueInfo);
  }

  /**
   * Deletes a queue and its finished jobs: `deleted`, or what keeps it (unfinished jobs, a
   * schedule, a queue dead-lettering into it); null when there is no such queue.
   */
  async deleteQueue(db: Db, name: string): Promise<string | null> {
    return ((await this.run(db, "deleteQueue", [name]))[0]?.[0] as string | undefined) ?? null;
  }

  /** Milliseconds until the oldest finished job outlives its retention; null when none. */
  async retentionDueIn(db: Db): Promise<number | null> {
    const value = (await this.run(db, "retentionDueIn", []))[0]?.[0];
    return value === null || value === undefined ? null : Number(value);
  }

  async queueRetentions(db: Db): Promise<Map<string, number>> {
    const rows = await this.run(db, "queueRetentions", []);
    return new Map(rows.map((row) => [row[0] as string, Number(row[1])]));
  }

  /** Deletes one batch of expired jobs; `allowed` is false when another process is cleaning. */
  async deleteExpired(db: Db, limit: number): Promise<{ allowed: boolean; deleted: number }> {
    const row = await this.one(db, "deleteExpired", [limit]);
    return { allowed: row[0] === true, deleted: Number(row[1]) };
  }

  /** Stores a schedule; returns its next tick (kept when the timing did not change). */
  async upsertSchedule(db: Db, s: ScheduleSettings, firstRunAt: Date): Promise<Date> {
    const row = await this.one(db, "upsertSchedule", [
      s.name,
      s.queue,
      s.cron,
      s.everyMs,
      s.timezone,
      s.payloadText,
      JSON.stringify(s.options),
      firstRunAt.toISOString(),
    ]);
    return row[0] as Date;
  }

  async deleteSchedule(db: Db, name: string): Promise<boolean> {
    return (await this.run(db, "deleteSchedule", [name])).length > 0;
  }

  /** The database clock, in Unix milliseconds. */
  async databaseNow(db: Db): Promise<number> {
    return Number((await this.one(db, "databaseNow", []))[0]);
  }

  /** `skip`: schedules left out (their next tick cannot be computed here). */
  async nextScheduleIn(db: Db, skip: readonly string[]): Promise<number | null> {
    const value = (await this.run(db, "nextScheduleIn", [JSON.stringify(skip)]))[0]?.[0];
    return value === null || value === undefined ? null : Number(value);
  }

  async dueSchedules(db: Db, skip: readonly string[]): Promise<DueSchedule[]> {
    return (await this.run(db, "dueSchedules", [JSON.stringify(skip)])).map((row) => ({
      name: row[0] as string,
      cron: (row[1] as string | null) ?? null,
      everyMs: row[2] === null ? null : Number(row[2]),
      timezone: (row[3] as string | null) ?? null,
      tick: row[4] as string,
      tickMs: Number(row[5]),
      nowMs: Number(row[6]),
    }));
  }

  /** Fires a schedule's tick; the job's id, or null when another client fired it first. */
  async fireSchedule(db: Db, name: string, tick: string, next: Date): Promise<string | null> {
    const rows = await this.run(db, "fireSchedule", [name, tick, next.toISOString()]);
    return (rows[0]?.[0] as string | null) ?? null;
  }

  async listSchedules(db: Db): Promise<ScheduleRow[]> {
    return (await this.run(db, "listSchedules", [])).map((row) => ({
      name: row[0] as string,
      queue: row[1] as string,
      cron: (row[2] as string | null) ?? null,
      everyMs: row[3] === null ? null : Number(row[3]),
      timezone: (row[4] as string | null) ?? null,
      payload: JSON.parse(row[5] as string) as Json,
      options: JSON.parse(row[6] as string) as Record<string, Json>,
      nextRunAt: row[7] as Date,
      lastRunAt: (row[8] as Date | null) ?? null,
      lastJobId: (row[9] as string | null) ?? null,
    }));
  }
}

/** The batch as JSON text, splicing in each payload's text rather than parsing it again. */
function encodeInsertRows(rows: InsertRow[]): string {
  // Written field by field: a bulk send of thousands of jobs would otherwise build and stringify
  // an object per job. Ids are generated uuids and numbers are checked integers (src/options.ts);
  // strings and objects go through JSON.stringify.
  let text = "[";
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    text += `${i === 0 ? "" : ","}{"id":"${row.id}","queue":${JSON.stringify(row.queue)}`;
    if (row.attributes !== undefined) text += `,"attributes":${JSON.stringify(row.attributes)}`;
    if (row.priority !== undefined) text += `,"priority":${row.priority}`;
    if (row.delay_ms !== undefined) text += `,"delay_ms":${row.delay_ms}`;
    if (row.run_at !== undefined) text += `,"run_at":${JSON.stringify(row.run_at)}`;
    if (row.max_attempts !== undefined) text += `,"max_attempts":${row.max_attempts}`;
    if (row.key !== undefined) text += `,"key":${JSON.stringify(row.key)}`;
    if (row.after !== undefined) text += `,"after":${JSON.stringify(row.after)}`;
    if (row.trace_context !== undefined) {
      text += `,"trace_context":${JSON.stringify(row.trace_context)}`;
    }
    text += `,"payload":${row.payloadText}}`;
  }
  return `${text}]`;
}

/** A schedule whose tick has come (`dueSchedules`). */
export interface DueSchedule {
  name: string;
  cron: string | null;
  everyMs: number | null;
  timezone: string | null;
  /** The tick as stored, for the compare-and-swap. */
  tick: string;
  tickMs: number;
  /** The database clock. */
  nowMs: number;
}

/** A schedule as stored (`listSchedules`). */
export interface ScheduleRow {
  name: string;
  queue: string;
  cron: string | null;
  everyMs: number | null;
  timezone: string | null;
  payload: Json;
  options: Record<string, Json>;
  nextRunAt: Date;
  lastRunAt: Date | null;
  lastJobId: string | null;
}

/** A schedule to store (`upsertSchedule`). */
export interface ScheduleSettings {
  name: string;
  queue: string;
  cron: string | null;
  everyMs: number | null;
  timezone: string | null;
  payloadText: string;
  options: Record<string, Json>;
}

/**
 * The key of one lease in a settling statement's answer. By lease, not by job id: one batch can
 * hold two deliveries of the same job (a stale consumer's and the current one's), and only the
 * one whose token matched was applied.
 */
export function leaseKey(id: string, token: string): string {
  return `${id}:${token}`;
}

function leaseSet(rows: unknown[][]): Set<string> {
  return new Set(rows.map((row) => leaseKey(row[0] as string, row[1] as string)));
}

function idSet(rows: unknown[][]): Set<string> {
  return new Set(rows.map((row) => row[0] as string));
}
