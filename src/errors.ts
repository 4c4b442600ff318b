/**
 * Every error pgwake throws or rejects with is a {@link PgwakeError}. Subclasses carry the fields
 * a caller branches on, and messages say what was wrong, what arrived and what to do.
 */

/** A stable, machine-readable error code. */
export type PgwakeErrorCode =
  | "VALIDATION"
  | "QUEUE_NOT_FOUND"
  | "QUEUE_FULL"
  | "QUEUE_IN_USE"
  | "JOB_FAILED"
  | "JOB_CANCELLED"
  | "JOB_NOT_FOUND"
  | "LEASE_LOST"
  | "SCHEMA_TOO_NEW"
  | "SCHEMA_OUTDATED"
  | "CLIENT_CLOSED"
  | "ABORTED"
  | "DATABASE"
  | "HTTP"
  | "NOTIFICATIONS_LOST";

/**
 * The base class of every pgwake error.
 *
 * @example
 * ```ts
 * try { await q.send(payload); }
 * catch (error) { if (error instanceof PgwakeError) console.error(error.code, error.message); }
 * ```
 */
export class PgwakeError extends Error {
  readonly code: PgwakeErrorCode;

  constructor(code: PgwakeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/**
 * Bad input, caught before any I/O: nothing was written.
 *
 * @example
 * ```ts
 * await q.send(() => 1).catch((e: ValidationError) => e.field); // "payload"
 * ```
 */
export class ValidationError extends PgwakeError {
  /** Which argument or option was wrong, as a path (`"options.delay"`). */
  readonly field: string;

  constructor(field: string, message: string) {
    super("VALIDATION", message);
    this.field = field;
  }
}

/**
 * The queue does not exist. Create it with `client.createQueue(name)` first.
 *
 * @example
 * ```ts
 * await client.queue("nope").send(1).catch((e: QueueNotFoundError) => e.queue); // "nope"
 * ```
 */
export class QueueNotFoundError extends PgwakeError {
  readonly queue: string;

  constructor(queue: string) {
    super(
      "QUEUE_NOT_FOUND",
      `queue "${queue}" does not exist: create it with client.createQueue(${JSON.stringify(queue)}) before sending to it`,
    );
    this.queue = queue;
  }
}

/**
 * The queue stayed full (at its `maxSize`) until the send's `timeout` or `signal` gave up.
 * Nothing was written.
 *
 * @example
 * ```ts
 * await q.send(1, { timeout: "1s" }).catch((e: QueueFullError) => e.queue);
 * ```
 */
export class QueueFullError extends PgwakeError {
  readonly queue: string;
  /** Jobs of a `sendMany` that were enqueued before it gave up (always empty for `send`). */
  readonly written: string[];

  constructor(
    queue: string,
    options: { message?: string; written?: string[]; cause?: unknown } = {},
  ) {
    const written = options.written ?? [];
    super(
      "QUEUE_FULL",
      options.message ??
        `queue "${queue}" stayed full until the send gave up` +
          (written.length > 0 ? ` (${written.length} of its jobs were enqueued before that)` : "") +
          `: raise the queue's maxSize, add consumers, or wait longer`,
      { cause: options.cause },
    );
    this.queue = queue;
    this.written = written;
  }
}

/**
 * The queue cannot be deleted yet: it still has unfinished jobs, a schedule sends to it, or
 * another queue dead-letters into it. Nothing was deleted.
 *
 * @example
 * ```ts
 * await client.deleteQueue("emails").catch((e: QueueInUseError) => e.reason); // "unfinished jobs"
 * ```
 */
export class QueueInUseError extends PgwakeError {
  readonly queue: string;
  /** What keeps it: `unfinished jobs`, `a schedule` or `a queue dead-lettering into it`. */
  readonly reason: string;

  constructor(queue: string, reason: string) {
    super(
      "QUEUE_IN_USE",
      `queue "${queue}" was not deleted: it still has ${reason}. ` +
        (reason === "unfinished jobs"
          ? "Let them finish or cancel them (queue.cancel), then delete it again"
          : reason === "a schedule"
            ? "Remove its schedules with client.unschedule(name) first"
            : "Point the other queue's deadLetter elsewhere first"),
    );
    this.queue = queue;
    this.reason = reason;
  }
}

/** The last error a job's handler reported, as stored in the database. */
export interface StoredError {
  name?: string;
  message: string;
  stack?: string;
  [key: string]: unknown;
}

/**
 * The job used up its attempts (or its last lease expired). `completed` rejects with this.
 *
 * @example
 * ```ts
 * await sent.completed.catch((e: JobFailedError) => console.log(e.attempts, e.error.message));
 * ```
 */
export class JobFailedError extends PgwakeError {
  readonly jobId: string;
  readonly attempts: number;
  readonly error: StoredError;

  constructor(jobId: string, attempts: number, error: StoredError) {
    super(
      "JOB_FAILED",
      `job ${jobId} failed after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${error.message}. ` +
        `Inspect it with queue.get(id) and requeue it with queue.retry(id)`,
    );
    this.jobId = jobId;
    this.attempts = attempts;
    this.error = error;
  }
}

/**
 * The job was cancelled before it completed. `completed` rejects with this.
 *
 * @example
 * ```ts
 * await sent.completed.catch((e) => e instanceof JobCancelledError);
 * ```
 */
export class JobCancelledError extends PgwakeError {
  readonly jobId: string;

  constructor(jobId: string) {
    super(
      "JOB_CANCELLED",
      `job ${jobId} was cancelled; requeue it with queue.retry(id) if it should run`,
    );
    this.jobId = jobId;
  }
}

/**
 * No job has this id (it never existed, or retention deleted it).
 *
 * @example
 * ```ts
 * await q.completion(unknownId).catch((e: JobNotFoundError) => e.jobId);
 * ```
 */
export class JobNotFoundError extends PgwakeError {
  readonly jobId: string;

  constructor(jobId: string, reason?: string) {
    super(
      "JOB_NOT_FOUND",
      `job ${jobId} does not exist: ${reason ?? "it was never sent to this queue, or retention already deleted it"}`,
    );
    this.jobId = jobId;
  }
}

/**
 * This consumer no longer holds the job: its lease expired and the job was redelivered, or the
 * job was cancelled or finished elsewhere. The ack or nack changed nothing.
 *
 * @example
 * ```ts
 * await job.ack().catch((e) => { if (e instanceof LeaseLostError) return; throw e; });
 * ```
 */
export class LeaseLostError extends PgwakeError {
  readonly jobId: string;

  constructor(jobId: string, detail?: string) {
    super(
      "LEASE_LOST",
      `this consumer no longer holds job ${jobId}${detail ? ` (${detail})` : ""}; ` +
        `nothing was changed. Raise the queue's leaseTime if handlers legitimately run this long`,
    );
    this.jobId = jobId;
  }
}

/**
 * The database schema was migrated by a newer pgwake, with a migration this one cannot work with
 * (newer migrations declared compatible are accepted: docs/upgrades.md).
 *
 * @example
 * ```ts
 * await connect(url).catch((e) => e instanceof SchemaTooNewError && e.databaseVersion);
 * ```
 */
export class SchemaTooNewError extends PgwakeError {
  readonly schema: string;
  readonly databaseVersion: number;
  readonly codeVersion: number;
  /** The oldest code version (newest migration known) that can use the schema. */
  readonly requiredVersion: number;

  constructor(
    schema: string,
    databaseVersion: number,
    codeVersion: number,
    requiredVersion = databaseVersion,
  ) {
    super(
      "SCHEMA_TOO_NEW",
      `schema "${schema}" is at migration ${databaseVersion} and needs a pgwake that knows migration ${requiredVersion}, ` +
        `but this one only knows migrations up to ${codeVersion}: upgrade pgwake in this application ` +
        `(during a rolling upgrade, this replica still runs the old release: finish the rollout), ` +
        `or point it at another schema`,
    );
    this.schema = schema;
    this.databaseVersion = databaseVersion;
    this.codeVersion = codeVersion;
    this.requiredVersion = requiredVersion;
  }
}

/**
 * The client was closed; create a new one with `connect()`.
 *
 * @example
 * ```ts
 * await client.close();
 * await q.send(1).then(undefined, (e) => e instanceof ClientClosedError); // true
 * ```
 */
export class ClientClosedError extends PgwakeError {
  constructor(what: string) {
    super(
      "CLIENT_CLOSED",
      `cannot ${what}: this client is closed; create a new one with connect()`,
    );
  }
}

/**
 * An operation was given up because its `signal` aborted, or the work it belonged to is
 * stopping. Also the `reason` of a `job.signal` aborted because its worker stops.
 *
 * @example
 * ```ts
 * await q.send(1, { signal: AbortSignal.abort() }).then(undefined, (e) => e.code); // "ABORTED"
 * ```
 */
export class AbortedError extends PgwakeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ABORTED", message, options);
  }
}

/**
 * The database rejected a statement or the connection failed. `cause` is the driver's error
 * (postgres.js `PostgresError` keeps `code`, `detail` and `constraint_name`).
 *
 * @example
 * ```ts
 * client.on("error", (e) => { if (e instanceof DatabaseError) console.error(e.sqlState); });
 * ```
 */
export class DatabaseError extends PgwakeError {
  /** The SQLSTATE, when the server sent one. */
  readonly sqlState: string | undefined;

  constructor(operation: string, cause: unknown) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    const sqlState = sqlStateOf(cause);
    super("DATABASE", `${operation} failed: ${detail}. ${adviceFor(sqlState, cause)}`, { cause });
    this.sqlState = sqlState;
  }
}

/** What to do about a database error, by its SQLSTATE class. */
function adviceFor(sqlState: string | undefined, cause: unknown): string {
  if (isConnectionError(cause))
    return "Check that PostgreSQL is reachable; pgwake reconnects by itself";
  switch (sqlState?.slice(0, 2)) {
    case "22":
      return "PostgreSQL refused a value: check the data sent";
    case "42":
      // undefined table, function or column: the schema is missing or older than this code
      return sqlState === "42P01" || sqlState === "42883" || sqlState === "42703"
        ? "Is the schema migrated? Connect with migrate: true, or run `pgwake migrate`"
        : "See the cause for PostgreSQL's own error";
    case "28":
      return "Check the user name and password in the database URL";
    case "53":
      return "PostgreSQL is out of a resource (connections, memory, disk): check the server";
    default:
      return "See the cause for PostgreSQL's own error";
  }
}

/** The SQLSTATE of a driver error, if it carries one. */
export function sqlStateOf(error: unknown): string | undefined {
  if (typeof error === "object" && error !== null && "code" in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/**
 * Wraps anything thrown by the driver into a {@link PgwakeError}; pgwake's own errors pass
 * through unchanged.
 */
export function toPgwakeError(operation: string, error: unknown): PgwakeError {
  if (error instanceof PgwakeError) return error;
  // pgwake's own SQLSTATEs (migration 0002), raised by SQL functions.
  const message = error instanceof Error ? error.message : String(error);
  switch (sqlStateOf(error)) {
    case "PW001":
    case "PW005":
      return Object.assign(new ValidationError("options", message), { cause: error });
    case "PW002":
      return Object.assign(new QueueNotFoundError(/"([^"]*)"/.exec(message)?.[1] ?? "?"), {
        cause: error,
      });
    case "PW003":
      return new QueueFullError(/"([^"]*)"/.exec(message)?.[1] ?? "?", { message, cause: error });
    case "PW004":
      return Object.assign(new ValidationError("options.after", message), { cause: error });
  }
  return new DatabaseError(operation, error);
}

/**
 * Whether an error means the connection failed (so a statement may or may not have run) rather
 * than the database refusing it. Only idempotent statements are retried on these.
 */
export function isConnectionError(error: unknown): boolean {
  const cause = error instanceof DatabaseError ? error.cause : error;
  const state = sqlStateOf(cause);
  if (state)
    return state.startsWith("08") || state === "57P01" || state === "57P02" || state === "57P03";
  const code =
    typeof cause === "object" && cause !== null ? (cause as { code?: unknown }).code : undefined;
  return (
    typeof code === "string" &&
    // Not CONNECTION_ENDED or CONNECTION_DESTROYED: those mean this client closed its own pool.
    /^(CONNECTION_CLOSED|CONNECT_TIMEOUT|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN)$/.test(
      code,
    )
  );
}

/**
 * `connect` sent a test NOTIFY through the query pool and the LISTEN connection never received
 * it: workers and completion handles would never be woken. Almost always the LISTEN connection
 * goes through a transaction pooler (PgBouncer `pool_mode = transaction`), which drops LISTEN.
 * Set `listenUrl` to a direct connection (or a session-pooled port), or connect with
 * `listenUrl: false` (poll mode).
 *
 * @example
 * ```ts
 * await connect({ url: pgbouncerUrl }).catch((e) => e instanceof NotificationsLostError); // true
 * await connect({ url: pgbouncerUrl, listenUrl: directUrl, prepare: false }); // works
 * ```
 */
export class NotificationsLostError extends PgwakeError {
  /** How long the test notification was waited for. */
  readonly waitedMs: number;
  /**
   * Whether the LISTEN connection goes through a pooler: the server process that answers it is
   * not the one the connection was given at login.
   */
  readonly throughPooler: boolean;
  /** Why the probe most likely did not arrive, in words (part of the message). */
  readonly reason: string;

  constructor(waitedMs: number, listener: { loginPid: number | null; serverPid: number | null }) {
    const throughPooler =
      listener.loginPid !== null &&
      listener.serverPid !== null &&
      listener.loginPid !== listener.serverPid;
    const direct = listener.loginPid !== null && listener.loginPid === listener.serverPid;
    const why = throughPooler
      ? `it goes through a connection pooler (it logged in as process ${listener.loginPid}, but ` +
        `process ${listener.serverPid} answers it), which is what PgBouncer does in transaction ` +
        `or statement pooling mode, where LISTEN is not kept`
      : direct
        ? `it answers as a direct connection, so it is probably connected to another database ` +
          `or server than the query pool`
        : `it goes through a transaction pooler, or to another database or server than the query pool`;
    super(
      "NOTIFICATIONS_LOST",
      `pgwake's LISTEN connection did not receive a test NOTIFY sent through the query pool ` +
        `within ${waitedMs / 1000}s, so workers and completion handles would never be woken: ` +
        `${why}. Connect with listenUrl set to a direct connection to the same PostgreSQL ` +
        `database (or a session-pooled port), keeping url on the pooler, or with ` +
        `listenUrl: false to run without notifications (poll mode, polling every pollInterval)`,
    );
    this.waitedMs = waitedMs;
    this.throughPooler = throughPooler;
    this.reason = why;
  }
}
