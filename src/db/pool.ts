import type postgres from "postgres";
import { hookClose, OrphanGuard } from "./orphans.js";
import type { Db } from "./queries.js";
import { openSocketsWith, socketOpener, type SocketOpener } from "./socket.js";

/** A pool is made again at most this often for the signs below that may also be something else. */
const RENEW_AT_MOST_EVERY_MS = 5000;
/** A replaced pool is ended once its statements have settled, or after this long whatever. */
const RETIRE_WITHIN_MS = 60_000;
/** Closing waits this long for statements still under way, then ends every pool anyway. */
const END_WITHIN_MS = 5000;

type Sql = postgres.Sql<Record<string, unknown>>;

/** Where a statement keeps what ends its count against its pool (see {@link Pool.watch}). */
const RELEASE = Symbol("pgwake.release");

/** One postgres.js pool of pgwake's, and the statements it has under way. */
interface Generation {
  sql: Sql;
  /** Its sockets; none for a pool the user passed in, whose sockets are its own. */
  opener?: SocketOpener;
  pending: number;
  /** Set once it is to be ended: called when no statement is left (or time is up). */
  idle?: () => void;
  ended?: Promise<void>;
}

/**
 * The pool pgwake's statements run on, and what watches it (src/db/orphans.ts).
 *
 * postgres.js 3.4.9 can leave one of its connections unable ever to log in again: a write that
 * was pending when the connection closed stays in its buffer and blocks every later one (see
 * src/db/socket.ts). Nothing outside the driver can reach that buffer, so a pool pgwake made
 * itself is made again when it shows the signs: a connection that wrote nothing when it reopened
 * (at once), a statement orphaned, or a connection that timed out while opening (these two at
 * most every 5 s, since they have other causes). New statements go to the new pool; the old one
 * is ended once its own statements have settled: postgres.js reopens connections for statements
 * still queued in a pool it is ending, and keeps them open after its end. A pool the user passed
 * in is theirs and is never replaced.
 */
export class Pool {
  readonly orphans: OrphanGuard;
  /** Runs statements on whichever pool is current. */
  readonly db: Db;
  private current: Generation;
  private readonly retired = new Set<Generation>();
  private renewedAt = -Infinity;
  private ended = false;
  private readonly unhookClose: () => void = () => undefined;

  /** Makes a pool of pgwake's own; undefined when the pool is the user's. */
  private readonly make: ((onclose: () => void) => Sql) | undefined;

  /**
   * `given`: the user's pool, used as it is. Otherwise `make` makes one, calling `onclose`
   * whenever one of its connections closes; pgwake opens its sockets (src/db/socket.ts).
   */
  constructor(given: Sql | undefined, make: (onclose: () => void) => Sql) {
    this.orphans = new OrphanGuard(() => this.renewAtMostEvery());
    if (given) {
      // The user's pool: watched, never replaced, and left open when pgwake closes.
      this.make = undefined;
      this.current = { sql: given, pending: 0 };
      this.unhookClose = hookClose(given, this.orphans);
    } else {
      this.make = make;
      this.current = this.open();
    }
    this.db = {
      unsafe: (query, parameters, options) => {
        const generation = this.current;
        const statement = generation.sql.unsafe(query, parameters, options);
        if (this.make) this.track(generation, statement);
        return statement;
      },
    };
  }

  /** The current postgres.js instance (its options are the listener's starting point). */
  get sql(): Sql {
    return this.current.sql;
  }

  /**
   * Settles like `statement`, just made on {@link db}, or rejects with a connection error if the
   * guard gives it up (src/db/orphans.ts), which also stops it holding its pool open.
   */
  watch<T>(statement: PromiseLike<T>, graceMs: number): Promise<T> {
    const watched = this.orphans.watch(statement, graceMs);
    const release = (statement as { [RELEASE]?: () => void })[RELEASE];
    if (release) watched.then(release, release);
    return watched;
  }

  /** A statement on the pool failed: a connection that times out while opening may be broken. */
  failed(error: unknown): void {
    if ((error as { code?: unknown } | null)?.code === "CONNECT_TIMEOUT") this.renewAtMostEvery();
  }

  /** Ends the pool (if pgwake made it) and any pools it replaced. */
  async end(): Promise<void> {
    this.ended = true;
    this.unhookClose();
    if (this.make) {
      this.retired.add(this.current);
      // The guard still gives up orphans meanwhile, so that they do not hold the end.
      await Promise.all(
        [...this.retired].map((generation) => this.endWhenIdle(generation, END_WITHIN_MS)),
      );
    }
    this.orphans.stop();
  }

  private renewAtMostEvery(): void {
    if (performance.now() - this.renewedAt >= RENEW_AT_MOST_EVERY_MS) this.renew();
  }

  private renew(): void {
    if (!this.make || this.ended) return;
    this.renewedAt = performance.now();
    const old = this.current;
    this.current = this.open();
    this.retired.add(old);
    void this.endWhenIdle(old, RETIRE_WITHIN_MS);
  }

  /** A new pool of pgwake's own, its reports going to the guard and to {@link renew}. */
  private open(): Generation {
    // Only the current pool's stuck connection calls for a new one; an old one's is ending.
    const opener = socketOpener(() => generation === this.current && this.renew());
    const sql = this.make!(() => this.orphans.closed());
    openSocketsWith(sql, opener);
    const generation: Generation = { sql, opener, pending: 0 };
    return generation;
  }

  /** Counts `statement` against its pool until it settles, or the guard gives it up. */
  private track(generation: Generation, statement: PromiseLike<unknown>): void {
    generation.pending++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      if (--generation.pending === 0) generation.idle?.();
    };
    statement.then(release, release);
    // On the statement itself: a WeakMap cost measurable CPU on every statement.
    (statement as { [RELEASE]?: () => void })[RELEASE] = release;
  }

  /**
   * Ends a pool once none of pgwake's statements is left on it, or `withinMs` from now, whichever
   * comes first (a later call can only bring that sooner). What is still queued then is rejected
   * rather than given a connection the ended pool would keep; then its sockets are closed.
   */
  private endWhenIdle(generation: Generation, withinMs: number): Promise<void> {
    generation.ended ??= new Promise<void>((resolve) => {
      generation.idle = resolve;
      if (generation.pending === 0) resolve();
    }).then(async () => {
      await generation.sql.end({ timeout: 0 }).catch(() => undefined);
      generation.opener?.close();
      this.retired.delete(generation);
    });
    const timer = setTimeout(() => generation.idle?.(), withinMs);
    // A retirement's deadline holds no process open; closing's is awaited, and must fire.
    if (withinMs > END_WITHIN_MS) timer.unref();
    void generation.ended.then(() => clearTimeout(timer));
    return generation.ended;
  }
}
