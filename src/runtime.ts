import { EventEmitter } from "eventemitter3";
import postgres from "postgres";
import { sleep, type ConsumerHost } from "./claimer.js";
import { Claims } from "./claims.js";
import { Completions } from "./completions.js";
import {
  ClientClosedError,
  isConnectionError,
  JobCancelledError,
  LeaseLostError,
  NotificationsLostError,
  toPgwakeError,
  type PgwakeError,
} from "./errors.js";
import { Job, type JobHost } from "./job.js";
import type { ClientSettings, Filter } from "./options.js";
import { Producer } from "./producer.js";
import { Settler } from "./settler.js";
import { Queries, type Db, type LeaseRef } from "./db/queries.js";
import { Pool } from "./db/pool.js";
import { noReconnectDelay, reconnectDelaySeconds } from "./db/pool-options.js";
import type { ClaimedRow } from "./db/rows.js";
import { Listener, type DoneNotice, type ReadyNotice } from "./notify/listener.js";
import { Poller } from "./notify/poller.js";
import { Wakeups } from "./notify/wakeups.js";
import { DeadlineWatcher } from "./services/deadline-watcher.js";
import { Heartbeat } from "./services/heartbeat.js";
import { Cleaner } from "./services/cleaner.js";
import { SafetyPoll } from "./services/safety-poll.js";
import { Scheduler } from "./services/scheduler.js";
import { deferred, type Deferred } from "./util/deferred.js";
import type { Json } from "./util/json.js";
import { atMost } from "./util/timer.js";

/** Closing waits at least this long for claims in flight, however short its timeout. */
const CLAIMS_WITHIN_MS = 1000;

/** Keeps `work` in `set` until it settles, for closing to wait on; returns it as it is. */
function keepUntilSettled<T>(set: Set<Promise<unknown>>, work: Promise<T>): Promise<T> {
  const tracked = work.catch(() => undefined);
  set.add(tracked);
  void tracked.then(() => set.delete(tracked));
  return work;
}

/** A job as the settling events need it: the queue, id and attempt, and when it was claimed. */
export interface ClaimedJob {
  readonly queue: string;
  readonly id: string;
  readonly attempt: number;
  /** When it was claimed, on the monotonic clock (`performance.now()`). */
  readonly claimedAt: number;
}

function jobEvent(job: ClaimedJob): JobEvent {
  return { queue: job.queue, id: job.id, attempt: job.attempt };
}

function sinceClaim(job: ClaimedJob): number {
  return performance.now() - job.claimedAt;
}

/** Events a client emits. */
export interface ClientEvents {
  /** A background failure (lost listener, failed heartbeat or claim); the client recovers by itself. */
  error: [error: PgwakeError];
  /** The listener LISTENs again after a lost connection (`epoch` counts successful LISTENs). */
  "listener:reconnect": [info: { epoch: number }];
  /** The listener lost its connection; it reconnects with backoff. */
  "listener:lost": [];
  /** A notification arrived on one of the schema's channels (every client receives each one). */
  "listener:notify": [info: { kind: "ready" | "done" | "schedule" }];
  /** Jobs sent by this client were enqueued (`count` includes sends answered by a dedup key). */
  "job:sent": [info: { queue: string; count: number }];
  /** This client claimed a job; `waitedMs` is how long it had been runnable (wake-up latency). */
  "job:claimed": [info: JobEvent & { waitedMs: number }];
  /** A job this client held was acked; `durationMs` runs from its claim. */
  "job:completed": [info: JobEvent & { durationMs: number }];
  /** An attempt of a job this client held was nacked (it is retried, or failed for good). */
  "job:failed": [info: JobEvent & { durationMs: number; error: Json }];
}

/** What job events say about the job. */
export interface JobEvent {
  queue: string;
  id: string;
  attempt: number;
}

/** How long the listener health check may take on the safety poll. */
const PING_TIMEOUT_MS = 10_000;
/**
 * How long connect waits for its probe NOTIFY to reach the listener. On a direct connection it
 * takes milliseconds; the margin is for a loaded machine, so that only a LISTEN that really
 * does not work (a transaction pooler) fails connect.
 */
const PROBE_TIMEOUT_MS = 10_000;
/** After a reconnect, how often the probe is retried while the pool itself is not back. */
const REPROBE_ATTEMPTS = 10;
const REPROBE_RETRY_MS = 1000;
/** How long after a reconnect the probe waits for the pool to settle. */
const REPROBE_DELAY_MS = 2000;
/** In poll mode, how often schedules and retention are read again (the safety poll's default). */
const POLL_MODE_SLOW_REFRESH_MS = 30_000;

type AnyJob = Job<unknown, unknown>;

/**
 * Everything a client runs, wired together: the pool, the statements, the listener, and the
 * services that react to it. The public {@link Client} is a thin facade over this.
 */
export class Runtime extends EventEmitter<ClientEvents> implements ConsumerHost, JobHost {
  readonly db: Db;
  readonly queries: Queries;
  readonly wakeups = new Wakeups();
  /** Wakes producers waiting for room in a bounded queue: bumped when its jobs finish. */
  readonly room = new Wakeups();
  readonly completions: Completions;
  readonly producer: Producer;
  readonly listener: Listener;
  readonly maxPayloadBytes: number;
  /** Aborts when the client starts closing: consumers stop, waits end. */
  readonly closing = new AbortController();
  /** The pool statements run on (tests look at it). */
  readonly pool: Pool;
  private readonly held = new Map<string, AnyJob>();
  /** This process's claims in flight (`claim`), which closing waits for. */
  private readonly claiming = new Set<Promise<unknown>>();
  /** A probe of the listener after a reconnect is under way (see reprobe). */
  private reprobing = false;
  private readonly settler: Settler;
  private readonly claims: Claims;
  private readonly heartbeat: Heartbeat;
  private readonly deadlines: DeadlineWatcher;
  private readonly poll: SafetyPoll | Poller;
  /** Poll mode: when schedules and retention were last read again (`performance.now()`). */
  private slowRefreshAt = 0;
  private readonly scheduler: Scheduler;
  private readonly cleaner: Cleaner;
  private heldDrained: Deferred<void> | undefined;
  /** Statements the background services have under way; shutdown waits for them. */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Set by shutdown: background services start no more statements. */
  private stopped = false;
  private readonly workers = new Set<{
    stop(options?: { timeout?: number }): Promise<void>;
    stopped: Promise<void>;
  }>();

  /** The postgres.js pool statements run on now (pgwake may replace its own: src/db/pool.ts). */
  get sql(): postgres.Sql<Record<string, unknown>> {
    return this.pool.sql;
  }

  constructor(readonly settings: ClientSettings) {
    super();
    this.pool = new Pool(settings.sql, (onclose) =>
      postgres(settings.url!, {
        // Statements a broken connection orphaned are found and retried (src/db/pool.ts), and
        // the pool opens its sockets through pgwake (src/db/socket.ts).
        onclose,
        max: settings.max,
        // Also for statements that do not say (migrations): behind a transaction pooler that
        // cannot keep them, no statement may be prepared.
        prepare: settings.prepare,
        // No statement sent behind another on a connection. postgres.js 3.4.9 can queue one
        // behind a statement its broken connection already failed, and after that connection
        // reopens every answer goes to the statement before it, or none does (src/db/orphans.ts).
        // PgBouncer 1.18 also drops the replies to a second statement (test/pooler/ caught this).
        // With one or two statements in flight per coalesced lane, pipelining bought nothing.
        max_pipeline: 0,
        onnotice: () => undefined,
        // See src/db/pool-options.ts: recovering from a restart in under a second, not in 20.
        backoff: reconnectDelaySeconds,
        // The TCP connect, and then the login, each fail after this long (src/db/socket.ts).
        connect_timeout: 10,
        fetch_types: false,
        connection: { application_name: `pgwake ${settings.name}` },
      } as postgres.Options<Record<string, never>>),
    );
    this.db = this.pool.db;
    this.maxPayloadBytes = settings.maxPayloadBytes;
    this.queries = new Queries(settings.schema, settings.prepare, this.pool);
    const report = (error: unknown): void => this.reportError(error);
    this.completions = new Completions(
      {
        outcomes: (ids) => this.background(() => this.queries.jobOutcomes(this.db, ids)),
        transactionStates: (xids) =>
          this.background(() => this.queries.transactionStates(this.db, xids)),
      },
      report,
    );
    this.producer = new Producer(this.queries, this.db, this.room, this.closing.signal);
    this.settler = new Settler(this.queries, this.db);
    this.claims = new Claims(
      {
        claimJobs: (queue, limit, consumer, filter) =>
          this.queries.claimJobs(this.db, queue, limit, consumer, filter),
      },
      (queue) => this.wakeups.bump(queue),
    );
    this.heartbeat = new Heartbeat(
      (leases) => this.background(() => this.queries.heartbeatJobs(this.db, leases)),
      report,
    );
    this.deadlines = new DeadlineWatcher(
      (queue) =>
        this.background(() => this.queries.tickQueue(this.db, queue)).then((tick) => {
          // Poll mode: no `ready` notification comes, so each poll's tick is what finds work;
          // consumers claim only then, and an idle queue costs this one statement per poll.
          if (settings.pollMode && tick.hasReady) this.wakeups.bump(queue);
          return tick;
        }),
      (queue) => this.wakeups.bump(queue),
      report,
    );
    // In poll mode the listener is never started (no connection is made): it stays silent.
    this.listener = new Listener(settings.schema, (handlers) => {
      const own = {
        max: 1,
        idle_timeout: 0,
        max_lifetime: null,
        fetch_types: false,
        onnotice: () => undefined,
        // The Listener retries with its own backoff; the pool's would be added to it.
        backoff: noReconnectDelay,
        ...handlers,
      };
      const application_name = `pgwake ${settings.name} listener`;
      // listenUrl: a server of its own (PostgreSQL itself, when the pool goes through a
      // transaction pooler), so nothing of the pool's settings applies.
      if (settings.listenUrl !== undefined) {
        return postgres(settings.listenUrl, { ...own, connection: { application_name } });
      }
      return postgres({
        ...(this.sql.options as unknown as postgres.Options<Record<string, never>>),
        ...own,
        connection: { ...this.sql.options.connection, application_name },
      });
    });
    this.scheduler = new Scheduler(
      {
        nextIn: (skip) => this.background(() => this.queries.nextScheduleIn(this.db, skip)),
        due: (skip) => this.background(() => this.queries.dueSchedules(this.db, skip)),
        fire: (name, tick, next) =>
          this.background(() => this.queries.fireSchedule(this.db, name, tick, next)),
      },
      report,
    );
    this.cleaner = new Cleaner(
      {
        dueIn: () => this.background(() => this.queries.retentionDueIn(this.db)),
        retentions: () => this.background(() => this.queries.queueRetentions(this.db)),
        deleteBatch: (limit) => this.background(() => this.queries.deleteExpired(this.db, limit)),
      },
      report,
    );
    this.listener.on("schedule", () => {
      this.emit("listener:notify", { kind: "schedule" });
      this.scheduler.refresh();
    });
    this.listener.on("ready", (notice) => {
      this.emit("listener:notify", { kind: "ready" });
      this.onReady(notice);
    });
    this.listener.on("done", (notice) => {
      this.emit("listener:notify", { kind: "done" });
      this.onDone(notice);
    });
    this.listener.on("listen", (epoch) => this.onListen(epoch));
    this.listener.on("lost", () => this.emit("listener:lost"));
    this.listener.on("error", report);
    this.poll = settings.pollMode
      ? new Poller(settings.pollMs!, () => this.pollModeCheck())
      : new SafetyPoll(settings.pollMs, () => this.safetyCheck());
  }

  /**
   * Connects the listener and proves that notifications sent through the pool reach it (they do
   * not when LISTEN goes through a transaction pooler). Call it first: a setup whose LISTEN cannot
   * work then fails before migrations run through that pooler. Does nothing in poll mode.
   */
  async listen(): Promise<void> {
    if (this.settings.pollMode) return;
    await this.listener.start();
    await this.listener.verify(
      (token) => this.queries.notifyProbe(this.db, token),
      PROBE_TIMEOUT_MS,
    );
  }

  /** Starts the background services; call once, after {@link listen} and migrations. */
  async start(): Promise<void> {
    this.slowRefreshAt = performance.now();
    this.poll.start();
    this.scheduler.refresh();
    this.cleaner.refresh();
  }

  /**
   * Runs `work` (migrations) on a connection that keeps session state. Migrations serialise on a
   * session advisory lock, which a transaction pooler breaks: the lock stays on one server
   * connection while the statements run on others, and clients starting together collide or
   * wait forever. With a `listenUrl` (PostgreSQL itself, or a session-pooled port) they run there.
   * They get a connection of their own (from `listenUrl`, else `url`), not one of the pool's: on
   * a busy client a queued statement could take the connection the migrator's reserve() opens.
   * Only a pool the user passed in (no url to open one from) is used as it is.
   */
  async withSessionSql<T>(
    work: (sql: postgres.Sql<Record<string, unknown>>) => Promise<T>,
  ): Promise<T> {
    const url = this.settings.listenUrl ?? (this.settings.sql ? undefined : this.settings.url);
    const session =
      url === undefined
        ? this.sql
        : postgres(url, {
            max: 1,
            prepare: this.settings.prepare,
            fetch_types: false, // as the pool (src/db/pool-options.ts)
            onnotice: () => undefined,
            connection: { application_name: `pgwake ${this.settings.name} migrate` },
          });
    try {
      // postgres.js 3.4.9 never answers a reserve() that has to open a connection of a pool that
      // skips the type fetch (as pgwake's do, src/db/pool-options.ts), and the migrator
      // reserves: open one first. (In poll mode nothing else has opened one yet.)
      await this.queries.databaseNow(session as unknown as Db);
      return await work(session);
    } finally {
      if (session !== this.sql) await session.end({ timeout: 5 }).catch(() => undefined);
    }
  }

  /**
   * Runs a statement of a background service. Once shut down none starts (heartbeats go on while
   * close waits for running handlers), and shutdown waits for those under way: with a pool the
   * user passed in, a statement still queued when the user ends that pool would open a fresh
   * connection after the end (postgres.js serves queued statements on reconnect) and keep the
   * process alive.
   */
  private background<T>(statement: () => Promise<T>): Promise<T> {
    if (this.stopped) return Promise.reject(new ClientClosedError("run background statements"));
    return keepUntilSettled(this.inFlight, statement());
  }

  reportError(error: unknown): void {
    // Once closing, background statements cut off by the pool ending are expected, not news.
    if (this.closing.signal.aborted) return;
    this.emit("error", toPgwakeError("background work", error));
  }

  // --- ConsumerHost ---------------------------------------------------------------------------

  /**
   * Claims rows leased to `consumer`, sharing statements with other claims of the same queue, and
   * emits `job:claimed` for each. A remote worker's rows are not held or heartbeated here.
   */
  async claimRows(
    queue: string,
    limit: number,
    filter: Filter,
    consumer: string,
  ): Promise<ClaimedRow[]> {
    const rows = await this.claims.claim(queue, limit, filter, consumer);
    // Events are built only for someone listening (metrics, tests): a drain claims thousands.
    if (this.listenerCount("job:claimed") > 0) {
      for (const row of rows) {
        this.emit("job:claimed", {
          queue,
          id: row.id,
          attempt: row.attempt,
          waitedMs: row.waitedMs,
        });
      }
    }
    return rows;
  }

  /**
   * Claims jobs for this process's consumers. Closing waits for claims in flight (`shutdown`),
   * and one that comes back once closing has begun hands its jobs straight back, uncounted:
   * after the pool has ended they could not be, and would wait out their lease with an
   * attempt counted (a job with one attempt failed without reaching a handler).
   */
  claim(queue: string, limit: number, filter: Filter): Promise<AnyJob[]> {
    const claiming = this.claimHeld(queue, limit, filter).then(async (jobs) => {
      if (!this.closing.signal.aborted || jobs.length === 0) return jobs;
      await this.releaseUndelivered(jobs);
      return [];
    });
    return keepUntilSettled(this.claiming, claiming);
  }

  private async claimHeld(queue: string, limit: number, filter: Filter): Promise<AnyJob[]> {
    const rows = await this.claimRows(queue, limit, filter, this.settings.name);
    return rows.map((row) => {
      const job: AnyJob = new Job(queue, row, this);
      // This process may hold an earlier delivery of the same job whose lease expired meanwhile.
      const earlier = this.held.get(job.id);
      if (earlier)
        this.lose(earlier, new LeaseLostError(job.id, "its lease expired and it was redelivered"));
      this.held.set(job.id, job);
      this.heartbeat.hold({
        id: job.id,
        token: job.leaseToken,
        leaseMs: job.leaseMs,
        onLost: () => this.onLeaseGone(job),
      });
      return job;
    });
  }

  async releaseUndelivered(jobs: AnyJob[]): Promise<void> {
    for (const job of jobs) this.release(job);
    await Promise.all(
      jobs.map((job) =>
        this.settler
          .release({ id: job.id, token: job.leaseToken })
          .catch((e: unknown) => this.reportError(e)),
      ),
    );
  }

  async failUnsettled(job: AnyJob, why: string): Promise<void> {
    // Straight back to the queue (no backoff): the job did not fail, its consumer let go of it.
    await job.nack(new Error(why), { delay: 0 }).catch((error: unknown) => {
      if (!(error instanceof LeaseLostError)) this.reportError(error);
    });
  }

  watchDeadlines(queue: string): () => void {
    const unwatch = this.deadlines.watch(queue);
    const untrack = this.wakeups.track(queue);
    return () => {
      unwatch();
      untrack();
    };
  }

  // --- JobHost --------------------------------------------------------------------------------

  complete(job: AnyJob, resultText: string): Promise<boolean> {
    return this.announceCompleted(job, this.settler.complete(job.id, job.leaseToken, resultText));
  }

  fail(job: AnyJob, error: Json, delayMs: number | null): Promise<boolean> {
    return this.failLease(job, { id: job.id, token: job.leaseToken }, error, delayMs);
  }

  /** Hands a claimed lease back without counting the attempt (a remote claim nobody received). */
  releaseLease(lease: LeaseRef): Promise<boolean> {
    return this.settler.release(lease);
  }

  /**
   * Acks a lease held here or by a remote consumer; emits `job:completed` when it applied and the
   * job's claim is known (a remote lease claimed before this process started is not).
   */
  completeLease(
    job: ClaimedJob | undefined,
    lease: LeaseRef,
    resultText: string,
  ): Promise<boolean> {
    return this.announceCompleted(job, this.settler.complete(lease.id, lease.token, resultText));
  }

  /**
   * Emits `job:completed` once the ack applied. Whether anyone listens is read when the ack is
   * asked for, and with no listener the settler's own promise goes back untouched: a drain acks
   * thousands of jobs a second, and each layer of promises is garbage to collect.
   */
  private announceCompleted(
    job: ClaimedJob | undefined,
    applied: Promise<boolean>,
  ): Promise<boolean> {
    if (!job || this.listenerCount("job:completed") === 0) return applied;
    return applied.then((ok) => {
      if (ok) this.emit("job:completed", { ...jobEvent(job), durationMs: sinceClaim(job) });
      return ok;
    });
  }

  /** Nacks a lease held here or by a remote consumer; emits `job:failed` like `completeLease`. */
  async failLease(
    job: ClaimedJob | undefined,
    lease: LeaseRef,
    error: Json,
    delayMs: number | null,
  ): Promise<boolean> {
    const applied = await this.settler.fail(lease, error, delayMs);
    if (applied && job)
      this.emit("job:failed", { ...jobEvent(job), durationMs: sinceClaim(job), error });
    return applied;
  }

  release(job: AnyJob): void {
    if (this.held.get(job.id) === job) this.held.delete(job.id);
    this.heartbeat.drop({ id: job.id, token: job.leaseToken });
    if (this.held.size === 0 && this.heldDrained) {
      this.heldDrained.resolve();
      this.heldDrained = undefined;
    }
  }

  /** Keeps a worker so that closing the client stops it. */
  track<W extends { stop(options?: { timeout?: number }): Promise<void>; stopped: Promise<void> }>(
    worker: W,
  ): W {
    this.workers.add(worker);
    void worker.stopped.then(() => this.workers.delete(worker));
    return worker;
  }

  /** Stops every worker: no more claims; waits up to `timeoutMs` for running handlers to settle. */
  async stopWorkers(timeoutMs: number): Promise<void> {
    await Promise.all([...this.workers].map((worker) => worker.stop({ timeout: timeoutMs })));
    this.workers.clear();
  }

  /** Jobs held by this process's consumers right now. */
  get heldCount(): number {
    return this.held.size;
  }

  /** Resolves once no job is held, or after `timeoutMs`. */
  async waitForHeld(timeoutMs: number): Promise<void> {
    if (this.held.size === 0) return;
    this.heldDrained ??= deferred<void>();
    await atMost(this.heldDrained.promise, timeoutMs);
  }

  /**
   * Lets go of every job still held (the client is closing): jobs a consumer had go straight back
   * to the queue for another attempt; jobs claimed but never handed over go back uncounted.
   */
  async abandonHeld(): Promise<void> {
    const jobs = [...this.held.values()].filter((job) => !job.settled);
    const delivered = jobs.filter((job) => job.delivered);
    await Promise.all([
      ...delivered.map((job) =>
        this.failUnsettled(job, "the client closed while the job was held"),
      ),
      this.releaseUndelivered(jobs.filter((job) => !job.delivered)),
    ]);
  }

  /**
   * Stops the background services and the listener; ends the pool if pgwake made it. First it
   * waits for claims in flight, `claimsWithinMs` (what is left of close's timeout, and at least
   * CLAIMS_WITHIN_MS): a claim held up longer (a lock on the jobs table) is left to the pool's
   * end, and its jobs, if any, come back when their lease expires.
   */
  async shutdown(closedError: PgwakeError, claimsWithinMs = 0): Promise<void> {
    // Claims first: one coming back now hands its jobs back through the settler.
    await atMost(Promise.all(this.claiming), Math.max(CLAIMS_WITHIN_MS, claimsWithinMs));
    await Promise.allSettled([this.producer.drain(), this.settler.drain()]);
    this.stopped = true;
    this.poll.stop();
    this.scheduler.stop();
    this.cleaner.stop();
    this.deadlines.stop();
    this.heartbeat.stop();
    this.claims.stop();
    this.completions.rejectAll(closedError);
    await Promise.all(this.inFlight);
    await this.listener.stop().catch(() => undefined);
    await this.pool.end();
  }

  // --- notifications --------------------------------------------------------------------------

  private onReady(notice: ReadyNotice): void {
    if (notice.ready > 0) this.wakeups.bump(notice.queue);
    this.deadlines.onReady(notice);
  }

  private onDone(notice: DoneNotice): void {
    this.room.bump(notice.queue);
    this.cleaner.onFinished(notice.queue);
    this.completions.onDone(notice.ids);
    for (const id of notice.ids) {
      const job = this.held.get(id);
      // Our own ack or nack is under way: the notice is about it.
      if (!job || job.settled) continue;
      this.lose(
        job,
        notice.state === "cancelled"
          ? new JobCancelledError(id)
          : new LeaseLostError(id, `it was ${notice.state} elsewhere`),
      );
    }
  }

  private onListen(epoch: number): void {
    if (epoch <= 1) return; // the first LISTEN is proven by listen()
    this.emit("listener:reconnect", { epoch });
    // Anything may have happened while we were not listening: look again.
    this.safetyCheck(false);
    void this.reprobe();
  }

  /**
   * After a reconnect, proves again that notifications reach the listener, as connect did: the
   * new connection may go somewhere they do not (a failover that moved the pool but not the
   * listen URL, a listen URL that now reaches a transaction pooler). When the probe does not
   * arrive, a NotificationsLostError is reported and the listener takes a new connection (and is
   * probed again); meanwhile the safety poll is what finds work. One probe at a time.
   */
  private async reprobe(): Promise<void> {
    if (this.reprobing) return;
    this.reprobing = true;
    try {
      // Not at once: the listener is back as soon as the server is, while the pool's connections
      // are still reopening, and a statement sent into that moment is the kind postgres.js can
      // strand (src/db/orphans.ts). The probe is not urgent; the safety check above already
      // looked for missed work.
      await sleep(REPROBE_DELAY_MS, this.closing.signal);
      for (let attempt = 1; !this.closing.signal.aborted; attempt++) {
        try {
          await this.listener.verify(
            (token) => this.queries.notifyProbe(this.db, token),
            PROBE_TIMEOUT_MS,
            this.closing.signal,
          );
          return;
        } catch (error) {
          if (this.closing.signal.aborted) return;
          // The pool is not back yet (the same outage took both down): try again shortly.
          if (isConnectionError(error) && attempt < REPROBE_ATTEMPTS) {
            await sleep(REPROBE_RETRY_MS, this.closing.signal);
            continue;
          }
          this.reportError(error);
          if (error instanceof NotificationsLostError) this.listener.reconnect();
          return;
        }
      }
    } finally {
      this.reprobing = false;
    }
  }

  private safetyCheck(ping = true): void {
    this.wakeups.bumpAll();
    this.room.bumpAll();
    this.scheduler.refresh();
    this.cleaner.refresh();
    this.deadlines.tickAll();
    this.completions.recheckAll();
    if (ping) void this.listener.ping(PING_TIMEOUT_MS);
  }

  /**
   * Poll mode's round: everything a notification would have triggered. Each consumed queue is
   * ticked (due and expired jobs; its consumers claim when it has runnable jobs), waiting
   * producers retry, completions and held jobs are read. Schedules and retention change rarely
   * and are read at the safety poll's pace.
   */
  private pollModeCheck(): void {
    this.room.bumpAll();
    this.deadlines.tickAll();
    this.completions.recheckAll();
    this.checkHeld();
    if (performance.now() - this.slowRefreshAt >= POLL_MODE_SLOW_REFRESH_MS) {
      this.slowRefreshAt = performance.now();
      this.scheduler.refresh();
      this.cleaner.refresh();
    }
  }

  /**
   * Poll mode: a held job that finished elsewhere (cancelled, or completed after its lease was
   * lost) is let go as its `done` notification would have, so `job.signal` still reports a
   * cancellation within one poll.
   */
  private checkHeld(): void {
    const jobs = [...this.held.values()].filter((job) => !job.settled);
    if (jobs.length === 0) return;
    void this.background(() =>
      this.queries.jobStates(
        this.db,
        jobs.map((job) => job.id),
      ),
    )
      .then((states) => {
        for (const job of jobs) {
          const state = states.get(job.id);
          if (state === "cancelled" || state === "completed" || state === "failed")
            this.onDone({ queue: job.queue, state, ids: [job.id] });
        }
      })
      .catch((error: unknown) => this.reportError(error));
  }

  /**
   * A heartbeat found the job's lease gone. Tell cancellation apart (the `done` notification may
   * have been missed) so the handler gets the right reason.
   */
  private onLeaseGone(job: AnyJob): void {
    // An ack or nack under way beat the heartbeat to the row: the lease was used, not lost.
    if (job.settled) return;
    void this.background(() => this.queries.jobStates(this.db, [job.id]))
      .then((states) => states.get(job.id))
      .catch(() => undefined)
      .then((state) =>
        this.lose(
          job,
          state === "cancelled"
            ? new JobCancelledError(job.id)
            : new LeaseLostError(job.id, "its lease expired and it was redelivered"),
        ),
      );
  }

  private lose(job: AnyJob, reason: PgwakeError): void {
    // A settlement under way or done is our own: the lease was not lost, it was used.
    if (job.settled) return;
    this.release(job);
    job.abort(reason);
  }
}
