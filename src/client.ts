import type { EventEmitter } from "eventemitter3";
import { ClientClosedError, QueueInUseError, QueueNotFoundError, toPgwakeError } from "./errors.js";
import type { JobInfo, QueueInfo } from "./db/rows.js";
import type { ScheduleSettings } from "./db/queries.js";
import {
  nextTick,
  normaliseSchedule,
  type ScheduleInfo,
  type ScheduleOptions,
} from "./schedule.js";
import { checkSchemaVersion, migrate, type MigrationReport } from "./db/migrate.js";
import {
  checkDuration,
  checkJobId,
  checkOptions,
  checkQueueName,
  normaliseConnect,
  normaliseJobsQuery,
  normaliseQueueOptions,
  type JobsQuery,
  type ClientSettings,
  type ConnectOptions,
  type QueueOptions,
} from "./options.js";
import { Queue } from "./queue.js";
import { Runtime, type ClientEvents } from "./runtime.js";
import { loadTracing } from "./tracing.js";
import type { Duration } from "./util/duration.js";
import type { Json } from "./util/json.js";

/** Options of {@link Client.close}. */
export interface CloseOptions {
  /**
   * How long to wait for running handlers and for jobs held by `receive()` loops to be settled
   * (default `"30s"`); jobs still held then go straight back to the queue.
   */
  timeout?: Duration;
}

/**
 * A connection to one pgwake schema: a pool for statements and one LISTEN connection. Make it
 * with {@link connect}; close it with {@link Client.close}.
 *
 * @example
 * ```ts
 * const client = await connect(process.env.DATABASE_URL);
 * client.on("error", (error) => console.error("pgwake:", error.message));
 * const q = await client.createQueue("emails", { maxAttempts: 3 });
 * ```
 */
export class Client {
  private closed: Promise<void> | undefined;

  /** @internal */
  constructor(private readonly runtime: Runtime) {}

  /** The schema this client works in. */
  get schema(): string {
    return this.runtime.settings.schema;
  }

  /** This process's name in job leases (`leasedBy`). */
  get name(): string {
    return this.runtime.settings.name;
  }

  /**
   * Subscribes to client events: `error` (background failures; the client recovers by itself),
   * `listener:lost`, `listener:reconnect`.
   */
  on<E extends EventEmitter.EventNames<ClientEvents>>(
    event: E,
    listener: EventEmitter.EventListener<ClientEvents, E>,
  ): this {
    this.runtime.on(event, listener);
    return this;
  }

  once<E extends EventEmitter.EventNames<ClientEvents>>(
    event: E,
    listener: EventEmitter.EventListener<ClientEvents, E>,
  ): this {
    this.runtime.once(event, listener);
    return this;
  }

  off<E extends EventEmitter.EventNames<ClientEvents>>(
    event: E,
    listener: EventEmitter.EventListener<ClientEvents, E>,
  ): this {
    this.runtime.off(event, listener);
    return this;
  }

  /** A handle to a queue, with no round trip. The queue must exist to send to it. */
  queue<P = Json, R = Json>(name: string): Queue<P, R> {
    return new Queue<P, R>(this.runtime, checkQueueName(name));
  }

  /**
   * Creates a queue, or updates its options if it exists (idempotent). Options left out take
   * their defaults, so the call describes the whole queue. A `deadLetter` queue that does not
   * exist is created with defaults.
   *
   * @example
   * ```ts
   * const q = await client.createQueue("emails", { maxAttempts: 5, leaseTime: "30s", deadLetter: "emails-dead" });
   * ```
   */
  async createQueue<P = Json, R = Json>(
    name: string,
    options?: QueueOptions,
  ): Promise<Queue<P, R>> {
    const queueName = checkQueueName(name);
    const settings = normaliseQueueOptions(queueName, options);
    this.assertOpen("create a queue");
    await this.runtime.queries.upsertQueue(this.runtime.db, settings);
    return this.queue<P, R>(queueName);
  }

  /**
   * Creates or updates a periodic schedule, stored in the database: every tick (`cron` in
   * `timezone`, or `every`) sends one job to `queue`, however many clients run. Re-declaring the
   * same timing keeps the next tick; after downtime, missed ticks produce one catch-up job.
   *
   * @example
   * ```ts
   * await client.schedule("nightly-report", { queue: "reports", cron: "0 3 * * *", timezone: "Europe/Paris" });
   * await client.schedule("heartbeat", { queue: "pings", every: "30s", payload: { ping: true } });
   * ```
   */
  async schedule(name: string, options: ScheduleOptions): Promise<ScheduleInfo> {
    const settings = normaliseSchedule(name, options, this.runtime.maxPayloadBytes);
    this.assertOpen("schedule");
    const { queries, db } = this.runtime;
    if (!(await queries.getQueue(db, settings.queue))) throw new QueueNotFoundError(settings.queue);
    const nowMs = await queries.databaseNow(db);
    const nextRunAt = await queries.upsertSchedule(db, settings, nextTick(settings, nowMs, nowMs));
    const info = (await this.schedules()).find((s) => s.name === settings.name);
    return info ?? { ...scheduleInfo(settings), nextRunAt };
  }

  /** Removes a schedule; resolves false if there was none by that name. */
  async unschedule(name: string): Promise<boolean> {
    const scheduleName = checkQueueName(name, "schedule name");
    this.assertOpen("unschedule");
    return this.runtime.queries.deleteSchedule(this.runtime.db, scheduleName);
  }

  /** Every schedule, by name, with its next and last run. */
  async schedules(): Promise<ScheduleInfo[]> {
    this.assertOpen("list schedules");
    const rows = await this.runtime.queries.listSchedules(this.runtime.db);
    return rows.map(({ options: _options, ...row }) => row);
  }

  /**
   * Every queue with its options and its jobs counted by state, by name.
   *
   * @example
   * ```ts
   * for (const q of await client.queues()) console.log(q.name, q.counts.queued, q.counts.failed);
   * ```
   */
  async queues(): Promise<QueueInfo[]> {
    this.assertOpen("list queues");
    return this.runtime.queries.listQueues(this.runtime.db);
  }

  /** One queue with its options and counts; null if there is no such queue. */
  async queueInfo(name: string): Promise<QueueInfo | null> {
    const queueName = checkQueueName(name);
    this.assertOpen("read a queue");
    const [info] = await this.runtime.queries.listQueues(this.runtime.db, queueName);
    return info ?? null;
  }

  /**
   * Deletes a queue and its finished jobs. Resolves false if there was no such queue. A queue
   * that still has unfinished jobs, a schedule sending to it, or another queue dead-lettering
   * into it is kept: the call rejects with {@link QueueInUseError}. Stop its producers first: a
   * send racing the delete can leave a job in a queue that no longer exists (creating the queue
   * again brings it back).
   *
   * @example
   * ```ts
   * await client.deleteQueue("old-reports");
   * ```
   */
  async deleteQueue(name: string): Promise<boolean> {
    const queueName = checkQueueName(name);
    this.assertOpen("delete a queue");
    const outcome = await this.runtime.queries.deleteQueue(this.runtime.db, queueName);
    if (outcome === null) return false;
    if (outcome !== "deleted") throw new QueueInUseError(queueName, outcome);
    return true;
  }

  /**
   * A page of jobs of every queue (or of `queue`, in `state`), newest first. Pass the page's
   * `nextCursor` as `cursor` for the next one; it is null on the last page.
   *
   * @example
   * ```ts
   * let page = await client.jobs({ queue: "emails", state: "failed", limit: 100 });
   * while (page.nextCursor) page = await client.jobs({ queue: "emails", state: "failed", cursor: page.nextCursor });
   * ```
   */
  async jobs(query?: JobsQuery): Promise<{ jobs: JobInfo[]; nextCursor: string | null }> {
    const { limit, ...rest } = normaliseJobsQuery(query);
    this.assertOpen("list jobs");
    // One more than asked tells whether there is a next page.
    const rows = await this.runtime.queries.listJobs(this.runtime.db, {
      ...rest,
      limit: limit + 1,
    });
    const jobs = rows.slice(0, limit);
    return { jobs, nextCursor: rows.length > limit ? jobs.at(-1)!.id : null };
  }

  /** A job of any queue by id, or null. (`queue.get(id)` does the same within one queue.) */
  async job(id: string): Promise<JobInfo | null> {
    const jobId = checkJobId(id, "job id");
    this.assertOpen("get a job");
    return this.runtime.queries.getJob(this.runtime.db, null, jobId);
  }

  /**
   * Whether this client can do its work: the database answers a query, and the listener is
   * connected (so wake-ups and completions arrive). For health checks. In poll mode
   * (`listenUrl: false`) `listening` is always false and `ok` only needs the database.
   *
   * @example
   * ```ts
   * const { ok } = await client.health(); // false while the database or the listener is down
   * ```
   */
  async health(): Promise<{ ok: boolean; database: boolean; listening: boolean }> {
    this.assertOpen("check health");
    const listening = this.runtime.listener.listening;
    const database = await this.runtime.queries.databaseNow(this.runtime.db).then(
      () => true,
      () => false,
    );
    return { ok: database && (listening || this.runtime.settings.pollMode), database, listening };
  }

  /** Applies pending migrations (`connect` does this unless `migrate: false`). */
  async migrate(): Promise<MigrationReport> {
    this.assertOpen("migrate");
    return this.runtime.withSessionSql((sql) => migrate(sql, this.schema));
  }

  /**
   * Closes gracefully: stops claiming, lets workers finish their running jobs and `receive()`
   * loops settle theirs (up to `timeout`, default 30 s; jobs still held then go straight back to
   * the queue), writes pending acks, then ends the connections. Completion handles still waiting
   * reject with `ClientClosedError`. A script that closes its client exits by itself.
   */
  close(options?: CloseOptions): Promise<void> {
    this.closed ??= this.shutdown(options);
    return this.closed;
  }

  private async shutdown(options: CloseOptions | undefined): Promise<void> {
    const { timeout } = checkOptions<CloseOptions>(options, "close options", ["timeout"]);
    const timeoutMs =
      timeout === undefined ? 30_000 : checkDuration(timeout, "close options.timeout");
    const runtime = this.runtime;
    runtime.closing.abort(new ClientClosedError("continue"));
    // One deadline for everything: workers' handlers, then jobs held by receive() loops.
    const deadline = performance.now() + timeoutMs;
    await runtime.stopWorkers(timeoutMs);
    await runtime.waitForHeld(Math.max(0, deadline - performance.now()));
    await runtime.abandonHeld();
    await runtime.shutdown(
      new ClientClosedError("wait for a completion"),
      deadline - performance.now(),
    );
  }

  private assertOpen(what: string): void {
    if (this.runtime.closing.signal.aborted) throw new ClientClosedError(what);
  }

  /** @internal for the server and the CLI, which work below the public API. */
  static runtimeOf(client: Client): Runtime {
    return client.runtime;
  }
}

/**
 * Connects to PostgreSQL, applies pending migrations (unless `migrate: false`), and starts
 * listening. With no argument the URL comes from `DATABASE_URL`.
 *
 * @example
 * ```ts
 * const client = await connect();                            // DATABASE_URL
 * const client = await connect("postgres://localhost/app");
 * const client = await connect({ url, schema: "jobs", migrate: false });
 * ```
 */
export async function connect(options?: string | ConnectOptions): Promise<Client> {
  return openClient(normaliseConnect(options));
}

/** @internal connects with settings already checked (the CLI reads its own environment). */
export async function openClient(settings: ClientSettings): Promise<Client> {
  await loadTracing(); // once per process; tracing stays off without @opentelemetry/api
  const runtime = new Runtime(settings);
  try {
    await runtime.listen();
    if (settings.migrate) await runtime.withSessionSql((sql) => migrate(sql, settings.schema));
    else await checkSchemaVersion(runtime.db as never, settings.schema);
    await runtime.start();
  } catch (error) {
    await runtime.shutdown(new ClientClosedError("connect")).catch(() => undefined);
    throw toPgwakeError("connect", error);
  }
  return new Client(runtime);
}

function scheduleInfo(settings: ScheduleSettings): Omit<ScheduleInfo, "nextRunAt"> {
  return {
    name: settings.name,
    queue: settings.queue,
    cron: settings.cron,
    everyMs: settings.everyMs,
    timezone: settings.timezone,
    payload: JSON.parse(settings.payloadText) as ScheduleInfo["payload"],
    lastRunAt: null,
    lastJobId: null,
  };
}
