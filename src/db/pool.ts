import type postgres from "postgres";
import { hookClose, OrphanGuard } from "./orphans.js";
import type { Db } from "./queries.js";

/** A pool is made again at most this often, however many broken connections it reports. */
const RENEW_AT_MOST_EVERY_MS = 5000;

type Sql = postgres.Sql<Record<string, unknown>>;

/**
 * The pool pgwake's statements run on, and what watches it (src/db/orphans.ts).
 *
 * postgres.js 3.4.9 can break one of its connections for good: a statement it orphaned (see
 * orphans.ts) that was small enough to be buffered stays in the connection's write buffer, and
 * every later reopening of that connection sends those bytes ahead of its startup message, so it
 * times out (CONNECT_TIMEOUT) every time, forever. Nothing outside the driver can reach that
 * buffer, so a pool pgwake made itself is made again (and the old one ended, letting its
 * statements finish) when it shows the signs: a statement orphaned, or a connection that timed
 * out while opening. A pool the user passed in is theirs and is never replaced.
 */
export class Pool {
  readonly orphans: OrphanGuard;
  /** Runs statements on whichever pool is current. */
  readonly db: Db;
  private current: Sql;
  private readonly retired = new Set<Promise<void>>();
  private renewedAt = -Infinity;
  private readonly unhookClose: () => void = () => undefined;

  /** Makes a pool of pgwake's own; undefined when the pool is the user's. */
  private readonly make: ((onclose: () => void) => Sql) | undefined;

  /**
   * `given`: the user's pool, used as it is. Otherwise `make` makes one, calling `onclose`
   * whenever one of its connections closes (and again whenever it is replaced).
   */
  constructor(given: Sql | undefined, make: (onclose: () => void) => Sql) {
    this.orphans = new OrphanGuard(() => this.renew());
    if (given) {
      // The user's pool: watched, never replaced, and left open when pgwake closes.
      this.make = undefined;
      this.current = given;
      this.unhookClose = hookClose(given, this.orphans);
    } else {
      this.make = make;
      this.current = this.open();
    }
    this.db = {
      unsafe: (query, parameters, options) => this.current.unsafe(query, parameters, options),
    };
  }

  /** The current postgres.js instance (its options are the listener's starting point). */
  get sql(): Sql {
    return this.current;
  }

  /** A statement on the pool failed: a connection that times out while opening may be broken. */
  failed(error: unknown): void {
    if ((error as { code?: unknown } | null)?.code === "CONNECT_TIMEOUT") this.renew();
  }

  /** Ends the pool (if pgwake made it) and any pools it replaced. */
  async end(): Promise<void> {
    this.orphans.stop();
    this.unhookClose();
    if (this.make) this.retire(this.current);
    await Promise.all(this.retired);
  }

  private renew(): void {
    if (!this.make || performance.now() - this.renewedAt < RENEW_AT_MOST_EVERY_MS) return;
    this.renewedAt = performance.now();
    const old = this.current;
    this.current = this.open();
    this.retire(old);
  }

  /** A new pool of pgwake's own, its connection closes reported to the guard. */
  private open(): Sql {
    return this.make!(() => this.orphans.closed());
  }

  /** Ends a pool, letting its statements finish for a few seconds. */
  private retire(sql: Sql): void {
    const ending = sql
      .end({ timeout: 5 })
      .catch(() => undefined)
      .then(() => void this.retired.delete(ending));
    this.retired.add(ending);
  }
}
