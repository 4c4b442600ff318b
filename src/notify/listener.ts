import { randomUUID } from "node:crypto";
import { EventEmitter } from "eventemitter3";
import type postgres from "postgres";
import { NotificationsLostError, toPgwakeError } from "../errors.js";
import { quoteIdentifier } from "../db/identifiers.js";
import { openSocketsWith, socketOpener, type SocketOpener } from "../db/socket.js";
import { OrphanGuard } from "../db/orphans.js";
import { CHANNEL_KINDS, channelName, type ChannelKind } from "./channels.js";

/**
 * Jobs of a queue can run now (`ready` of them), and the first delayed one, if any, is due at
 * `atMs` (Unix milliseconds, database clock), `inMs` after the notifying statement ran.
 */
export interface ReadyNotice {
  queue: string;
  ready: number;
  atMs: number | null;
  inMs: number | null;
}

/** Jobs of a queue finished in one state. */
export interface DoneNotice {
  queue: string;
  state: "completed" | "failed" | "cancelled";
  ids: string[];
}

export interface ListenerEvents {
  ready: [ReadyNotice];
  done: [DoneNotice];
  /** A schedule was created, removed or retimed. */
  schedule: [];
  /** LISTEN succeeded (first time or after a reconnect): anything may have been missed, re-read. */
  listen: [epoch: number];
  /** The connection was lost; notifications stop until the next `listen`. */
  lost: [];
  error: [Error];
}

/** Makes the dedicated postgres.js instance of the listener. */
export type ListenerSqlFactory = (handlers: {
  onnotify: (channel: string, payload: string) => void;
  onclose: () => void;
}) => postgres.Sql<Record<string, unknown>>;

const RETRY_MIN_MS = 100;
/** A LISTEN left waiting this long after its connection closed is retried. */
const LISTEN_GRACE_MS = 2000;
/**
 * At most this long between attempts: no wake-up arrives until LISTEN is back, so the listener
 * must not lag behind the pool (which reconnects within a second, src/db/pool-options.ts). With
 * 5 s, a restart that took 5 s left workers deaf for up to 6 s after the server was back (the
 * chaos test caught it). One attempt a second per process is nothing to a server.
 */
const RETRY_MAX_MS = 1000;

/**
 * The client's one LISTEN connection.
 *
 * postgres.js's own `listen()` re-LISTENs after a dropped connection but silently gives up if
 * that first retry fails, so the listener owns its connection and its retry loop: after every
 * close it retries with exponential backoff until LISTEN succeeds, then bumps `epoch` and emits
 * `listen`. Whoever relies on notifications re-reads the database on `listen`, which is what
 * makes a notification sent while the connection was down impossible to miss: LISTEN comes
 * first, then the read.
 */
export class Listener extends EventEmitter<ListenerEvents> {
  /** Counts successful LISTENs; changes whenever notifications may have been missed. */
  epoch = 0;
  private sql: postgres.Sql<Record<string, unknown>> | undefined;
  /** The sockets of {@link sql} (src/db/socket.ts): a stuck one fails the LISTEN at once. */
  private opener: SocketOpener | undefined;
  private state: "idle" | "connecting" | "listening" | "stopped" = "idle";
  private retries = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly channels: Map<string, ChannelKind>;
  /** Bumped per connection instance, so a replaced instance's late close is ignored. */
  private instance = 0;
  /** A LISTEN the driver orphaned when its connection broke is retried (src/db/orphans.ts). */
  private readonly orphans = new OrphanGuard();
  /** Probes {@link verify} waits for, by token. */
  private readonly probes = new Map<string, () => void>();

  constructor(
    schema: string,
    private readonly makeSql: ListenerSqlFactory,
  ) {
    super();
    this.channels = new Map(CHANNEL_KINDS.map((kind) => [channelName(schema, kind), kind]));
  }

  /** Read through a getter: the state changes while a LISTEN is awaited. */
  private get stopped(): boolean {
    return this.state === "stopped";
  }

  /** Whether notifications are flowing right now. */
  get listening(): boolean {
    return this.state === "listening";
  }

  /** Connects and LISTENs; rejects if the first attempt fails. */
  async start(): Promise<void> {
    this.newConnection();
    await this.listenOnce();
  }

  /**
   * Runs a trivial query on the listener's connection to prove it is alive; one that does not
   * answer in time is dropped and replaced (TCP keepalive alone can take minutes to notice).
   */
  async ping(timeoutMs: number): Promise<void> {
    if (this.state !== "listening" || !this.sql) return;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs}ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.sql.unsafe("select 1"), timeout]);
    } catch (error) {
      if (this.state !== "listening") return;
      this.emit("error", toPgwakeError("listener health check", error));
      this.replaceConnection();
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Proves that notifications committed elsewhere reach this connection: `sendProbe` NOTIFYs the
   * `ready` channel through the query pool (the way the triggers' notifications travel), with a
   * payload naming `token`, and the probe must arrive within `timeoutMs`. Behind a transaction
   * pooler LISTEN lasts only as long as the pooler's transaction, so the probe never comes, and
   * this rejects with a NotificationsLostError that says what to change. A reconnect while
   * waiting sends the probe again, since one sent while not listening is lost.
   */
  async verify(
    sendProbe: (token: string) => Promise<unknown>,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const token = randomUUID();
    const arrival = new Promise<"arrived">((resolve) =>
      this.probes.set(token, () => resolve("arrived")),
    );
    const deadline = performance.now() + timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let onListen = (): void => undefined;
    let onAbort = (): void => undefined;
    const aborted = new Promise<"aborted">((resolve) => {
      onAbort = () => resolve("aborted");
      if (signal?.aborted) onAbort();
      else signal?.addEventListener("abort", onAbort, { once: true });
    });
    try {
      for (;;) {
        const relisten = new Promise<"relisten">((resolve) => {
          onListen = () => resolve("relisten");
          this.once("listen", onListen);
        });
        await sendProbe(token);
        const timeout = new Promise<"timeout">((resolve) => {
          timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - performance.now()));
        });
        const outcome = await Promise.race([arrival, relisten, timeout, aborted]);
        clearTimeout(timer);
        this.off("listen", onListen);
        if (outcome === "arrived" || outcome === "aborted" || this.stopped) return;
        if (outcome === "timeout") break;
      }
    } finally {
      clearTimeout(timer);
      this.off("listen", onListen);
      signal?.removeEventListener("abort", onAbort);
      this.probes.delete(token);
    }
    throw new NotificationsLostError(timeoutMs, await this.backendPids());
  }

  /**
   * The process id this connection was given at login and the one of the server process that
   * answers it now. They differ behind a pooler, which hands out its own ids.
   */
  private async backendPids(): Promise<{ loginPid: number | null; serverPid: number | null }> {
    try {
      const result = await this.sql!.unsafe("select pg_backend_pid()").values();
      const login = (result as unknown as { state?: { pid?: unknown } }).state?.pid;
      return {
        loginPid: typeof login === "number" ? login : null,
        serverPid: Number(result[0]?.[0]),
      };
    } catch {
      return { loginPid: null, serverPid: null };
    }
  }

  async stop(): Promise<void> {
    this.state = "stopped";
    clearTimeout(this.retryTimer);
    this.orphans.stop();
    await this.sql?.end({ timeout: 0 });
    this.opener?.close();
  }

  private async listenOnce(): Promise<void> {
    this.state = "connecting";
    const statements = [...this.channels.keys()].map(
      (channel) => `listen ${quoteIdentifier(channel)}`,
    );
    try {
      await this.orphans.watch(this.sql!.unsafe(statements.join("; ")), LISTEN_GRACE_MS);
    } catch (error) {
      if (!this.stopped) this.state = "idle";
      throw toPgwakeError("LISTEN", error);
    }
    if (this.stopped) return;
    this.state = "listening";
    this.retries = 0;
    this.epoch++;
    this.emit("listen", this.epoch);
  }

  private onClose(): void {
    // While connecting, the failing LISTEN itself drives the retry.
    if (this.state !== "listening") return;
    this.state = "idle";
    this.emit("lost");
    this.scheduleRetry(0);
  }

  /** Drops the connection and LISTENs on a new one (its notifications were found not to arrive). */
  reconnect(): void {
    if (this.stopped || this.state !== "listening") return;
    this.replaceConnection();
  }

  private replaceConnection(): void {
    this.state = "idle";
    this.emit("lost");
    this.newConnection();
    this.scheduleRetry(0);
  }

  /** A connection instance of its own; the one before it, if any, is ended. */
  private newConnection(): void {
    const old = this.sql;
    const oldOpener = this.opener;
    const instance = ++this.instance;
    this.opener = socketOpener();
    this.sql = this.makeSql({
      onnotify: (channel, payload) => this.onNotify(channel, payload),
      onclose: () => {
        // A replaced instance's close says nothing about the current one's LISTEN.
        if (instance !== this.instance) return;
        this.orphans.closed();
        this.onClose();
      },
    });
    openSocketsWith(this.sql, this.opener);
    void old
      ?.end({ timeout: 0 })
      .catch(() => undefined)
      .then(() => oldOpener?.close());
  }

  private scheduleRetry(delayMs: number): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.listenOnce().catch((error: Error) => {
        if (this.stopped) return;
        this.emit("error", error);
        // A fresh connection for the next attempt: postgres.js 3.4.9 can leave one unable ever
        // to open again (src/db/pool.ts), and this one holds nothing worth keeping.
        this.newConnection();
        this.retries++;
        const backoff = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** this.retries);
        this.scheduleRetry(backoff * (0.8 + Math.random() * 0.4));
      });
    }, delayMs);
  }

  private onNotify(channel: string, payload: string): void {
    const kind = this.channels.get(channel);
    if (!kind) return;
    if (kind === "schedule") {
      this.emit("schedule");
      return;
    }
    let message: unknown;
    try {
      message = JSON.parse(payload);
    } catch {
      return; // not ours (someone NOTIFYing our channel by hand); notifications are only hints
    }
    if (typeof message !== "object" || message === null) return;
    const m = message as Record<string, unknown>;
    // A client's connect-time probe (it names no queue, so other clients ignore it).
    if (typeof m.probe === "string") return this.probes.get(m.probe)?.();
    if (typeof m.q !== "string") return;
    if (kind === "ready") {
      this.emit("ready", {
        queue: m.q,
        ready: typeof m.n === "number" ? m.n : 0,
        atMs: typeof m.at === "number" ? m.at : null,
        inMs: typeof m.in === "number" ? m.in : null,
      });
    } else if (
      Array.isArray(m.ids) &&
      (m.s === "completed" || m.s === "failed" || m.s === "cancelled")
    ) {
      this.emit("done", {
        queue: m.q,
        state: m.s,
        ids: m.ids.filter((id): id is string => typeof id === "string"),
      });
    }
  }
}
