/**
 * Statements that postgres.js 3.4.9 orphans when a connection breaks, and how pgwake gets them
 * back.
 *
 * When a pool connection's socket fails (ECONNRESET: a restart, `pg_terminate_backend`, a cut
 * network), Node reports the error at once but the socket's `close` only on a later turn of the
 * event loop. Until then the driver still counts the connection as open and may hand it the next
 * statement; the close then rejects nothing, and that statement never settles (seen in the chaos
 * test: a worker's claim waited forever, so a queued job was never taken). If the connection is
 * opened again later, the orphan resolves with an empty result instead, as if it had run.
 *
 * pgwake guards both ways. A statement's result must say what command it ran (an orphan's empty
 * result does not: {@link checkRan}). And every statement that started shortly before a
 * connection of its pool closed is given a grace period; if it is still pending then, it is
 * rejected with a connection error, which the settler, the claimer and the other loops already
 * retry. A statement on a live connection is rejected wrongly only if it started within a second
 * before some other connection closed and runs longer than its grace: seconds for pgwake's small
 * statements, a minute for those whose size the user picks (src/db/queries.ts).
 */

/** A close this soon after a statement started may have orphaned it (it is sub-millisecond). */
const WINDOW_MS = 1000;

interface Watched {
  startedAt: number;
  graceMs: number;
  /** When it is given up, once a close made it a suspect. */
  deadline: number;
  reject(error: Error): void;
}

/** The error an orphaned statement is rejected with: a connection error, so it is retried. */
export function connectionLost(why: string): Error {
  return Object.assign(new Error(why), { code: "CONNECTION_CLOSED" });
}

/**
 * Throws when a driver result does not name the command that produced it: the driver resolved a
 * statement it never ran (see above). Results of statements that ran always do.
 */
export function checkRan(result: unknown): void {
  if ((result as { command?: unknown }).command == null) {
    throw connectionLost("the connection closed before the statement ran");
  }
}

/** Watches the statements of one pool; tell it of every connection close with {@link closed}. */
export class OrphanGuard {
  private readonly pending = new Set<Watched>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;

  /**
   * `onOrphan`: a statement was given up (its connection may be broken for good: src/db/pool.ts).
   * `windowMs`: how soon before a close a statement must have started to be suspected.
   */
  constructor(
    private readonly onOrphan: () => void = () => undefined,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /**
   * Settles like `statement`, or rejects with a connection error if a connection of the pool
   * closed within a moment of its start and it is still pending `graceMs` later.
   */
  watch<T>(statement: PromiseLike<T>, graceMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const watched: Watched = {
        startedAt: performance.now(),
        graceMs,
        deadline: Infinity,
        reject,
      };
      this.pending.add(watched);
      statement.then(
        (value) => {
          this.pending.delete(watched);
          resolve(value);
        },
        (error: unknown) => {
          this.pending.delete(watched);
          reject(error);
        },
      );
    });
  }

  /** A connection of the pool closed: statements started just before it are suspects. */
  closed(): void {
    const now = performance.now();
    for (const watched of this.pending) {
      if (watched.deadline === Infinity && now - watched.startedAt <= this.windowMs) {
        watched.deadline = now + watched.graceMs;
        this.arm(watched.deadline);
      }
    }
  }

  /** Statements being watched (for tests). */
  get size(): number {
    return this.pending.size;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private arm(at: number): void {
    if (this.timer && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    // Not unref'd: someone awaits the suspect, and should hear how it ended.
    this.timer = setTimeout(() => this.sweep(), Math.max(0, at - performance.now()));
  }

  private sweep(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    let orphans = 0;
    for (const watched of this.pending) {
      if (watched.deadline <= now) {
        orphans++;
        this.pending.delete(watched);
        watched.reject(
          connectionLost(
            `no answer ${Math.round(watched.graceMs / 1000)}s after a connection closed beside it: given up`,
          ),
        );
      } else if (watched.deadline < next) next = watched.deadline;
    }
    if (next !== Infinity) this.arm(next);
    if (orphans > 0) this.onOrphan();
  }
}

/**
 * Has `guard` told of every connection close of a pool the user passed in (pgwake makes its own
 * pools with `onclose` set). The pool's own `onclose`, if any, still runs. Returns the function
 * that undoes it.
 */
export function hookClose(sql: { options: object }, guard: OrphanGuard): () => void {
  const options = sql.options as { onclose?: ((id: number) => void) | null };
  const previous = options.onclose;
  const hook = (id: number): void => {
    guard.closed();
    previous?.(id);
  };
  options.onclose = hook;
  return () => {
    if (options.onclose === hook) options.onclose = previous;
  };
}

/**
 * The rows of a driver result, without the empty slots postgres.js 3.4.9 can put before them.
 * It counts a result's rows in a variable of the connection that only a statement's completion
 * resets; when a connection breaks in the middle of an answer, the next statement on it after
 * the reconnect stores its rows from that count on, after as many holes (seen: a tick read as no
 * row, a worker handed undefined jobs). The holes are always leading, so one look at slot 0 finds
 * them.
 */
export function compactRows<T>(rows: T[]): T[] {
  return rows.length === 0 || 0 in rows ? rows : rows.filter(() => true);
}
