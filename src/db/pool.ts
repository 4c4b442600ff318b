import type postgres from "postgres";
import { hookClose, OrphanGuard } from "./orphans.js";
import type { Db } from "./queries.js";

/** A pool is made again at most this often for the signs below that may also be something else. */
const RENEW_AT_MOST_EVERY_MS = 5000;
/** A replaced pool is ended once its statements have settled, or after this long whatever. */
const RETIRE_WITHIN_MS = 60_000;

type Sql = postgres.Sql<Record<string, unknown>>;

/** What a pool pgwake makes reports to it. */
export interface PoolEvents {
  /** One of its connections closed (postgres.js's `onclose`). */
  onclose(): void;
  /** One of its connections can no longer log in (src/db/socket.ts). */
  stuck(): void;
}

/** One postgres.js pool of pgwake's, and the statements it has under way. */
interface Generation {
  sql: Sql;
  pending: number;
  retiring: boolean;
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
 * is ended once its own statements have settled, since postgres.js reopens connections for
 * statements still queued in a pool it is ending, and would keep them open. A pool the user
 * passed in is theirs and is never replaced.
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
  private readonly make: ((events: PoolEvents) => Sql) | undefined;

  /** `given`: the user's pool, used as it is. Otherwise `make` makes one, reporting to `events`. */
  constructor(given: Sql | undefined, make: (events: PoolEvents) => Sql) {
    this.orphans = new OrphanGuard(() => this.renewAtMostEvery());
    if (given) {
      // The user's pool: watched, never replaced, and left open when pgwake closes.
      this.make = undefined;
      this.current = { sql: given, pending: 0, retiring: false };
      this.unhookClose = hookClose(given, this.orphans);
    } else {
      this.make = make;
      this.current = this.open();
    }
    this.db = {
      unsafe: (query, parameters, options) => this.current.sql.unsafe(query, parameters, options),
    };
  }

  /**
   * Settles like `statement`, just made on {@link db}, or rejects as the guard decides; until
   * then its pool, if replaced meanwhile, is not ended.
   */
  watch<T>(statement: PromiseLike<T>, graceMs: number): Promise<T> {
    const watched = this.orphans.watch(statement, graceMs);
    if (this.make) this.track(this.current, watched);
    return watched;
  }

  /** The current postgres.js instance (its options are the listener's starting point). */
  get sql(): Sql {
    return this.current.sql;
  }

  /** A statement on the pool failed: a connection that times out while opening may be broken. */
  failed(error: unknown): void {
    if ((error as { code?: unknown } | null)?.code === "CONNECT_TIMEOUT") this.renewAtMostEvery();
  }

  /** Ends the pool (if pgwake made it) and any pools it replaced. */
  async end(): Promise<void> {
    this.ended = true;
    this.orphans.stop();
    this.unhookClose();
    if (!this.make) return;
    this.retired.add(this.current);
    await Promise.all([...this.retired].map((generation) => this.endNow(generation)));
  }

  private renewAtMostEvery(): void {
    if (performance.now() - this.renewedAt >= RENEW_AT_MOST_EVERY_MS) this.renew();
  }

  private renew(): void {
    if (!this.make || this.ended) return;
    this.renewedAt = performance.now();
    const old = this.current;
    this.current = this.open();
    this.retire(old);
  }

  /** A new pool of pgwake's own, its reports going to the guard and to {@link renew}. */
  private open(): Generation {
    const generation: Generation = { sql: undefined!, pending: 0, retiring: false };
    generation.sql = this.make!({
      onclose: () => this.orphans.closed(),
      // Only the current pool's stuck connection calls for a new one; an old one's is ending.
      stuck: () => generation === this.current && this.renew(),
    });
    return generation;
  }

  private track(generation: Generation, statement: Promise<unknown>): void {
    generation.pending++;
    const settled = (): void => {
      generation.pending--;
      if (generation.retiring && generation.pending === 0) void this.endNow(generation);
    };
    statement.then(settled, settled);
  }

  /** Ends a replaced pool once it has no statement under way (or a minute from now). */
  private retire(generation: Generation): void {
    generation.retiring = true;
    this.retired.add(generation);
    if (generation.pending === 0) void this.endNow(generation);
    else setTimeout(() => void this.endNow(generation), RETIRE_WITHIN_MS).unref();
  }

  /** Ends a pool, letting its statements (if any) finish for a few seconds. */
  private endNow(generation: Generation): Promise<void> {
    // With none of pgwake's statements left, what a connection still holds is a driver orphan.
    generation.ended ??= generation.sql
      .end({ timeout: generation.pending === 0 ? 0 : 5 })
      .catch(() => undefined)
      .then(() => void this.retired.delete(generation));
    return generation.ended;
  }
}
