/**
 * Per-test databases: every test gets a fresh schema in the run's PostgreSQL (like River's
 * TestSchema), its own clients, and an admin connection to look at the tables. The schema is
 * dropped when the test passes and kept (its name printed) when it fails.
 */
import { test, type TestContext } from "node:test";
import postgres from "postgres";
import { Queries, type QueryName } from "../../src/db/queries.js";
import { connect, type Client, type ConnectOptions } from "../../src/index.js";

export function databaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url)
    throw new Error(
      "DATABASE_URL is not set: run the tests with `npm test`, which provides a database",
    );
  return url;
}

/**
 * The server's version as a number: 130023 for 13.23, 180004 for 18.4.
 *
 * @example
 * if ((await serverVersion(admin)) >= 140000) {
 *   // pg_prepared_statements counts generic and custom plans
 * }
 */
export async function serverVersion(sql: postgres.Sql): Promise<number> {
  const [row] = await sql<[{ v: number }]>`select current_setting('server_version_num')::int as v`;
  return row!.v;
}

let counter = 0;

/** A schema name unique to this test (sortable by time, so old ones can be cleared). */
export function uniqueSchema(): string {
  counter++;
  return `pgwake_t_${Date.now()}_${process.pid}_${counter}`;
}

/**
 * The plan PostgreSQL picks for pgwake's statement `name` with `params`, as plain EXPLAIN prints
 * it (planned with the values, not run), for tests that assert which index a statement reads.
 */
export async function explainQuery(
  admin: postgres.Sql,
  schema: string,
  name: QueryName,
  params: unknown[],
): Promise<string> {
  const text = new Queries(schema, false).text(name);
  const rows = await admin.unsafe(`explain ${text}`, params as never[]);
  return rows.map((row) => row["QUERY PLAN"] as string).join("\n");
}

export interface DbContext {
  t: TestContext;
  schema: string;
  url: string;
  /** A small pool for looking at (or poking) the database directly. */
  admin: postgres.Sql;
  /**
   * An extra postgres.js pool on the test database, ended when the test ends; `statements`
   * records every statement it sends (to count them).
   */
  pool(options?: postgres.Options<Record<string, never>>): {
    sql: postgres.Sql;
    statements: string[];
  };
  /** A client on this test's schema; closed when the test ends. */
  connect(options?: Omit<ConnectOptions, "url" | "schema">): Promise<Client>;
  /** Remembers something to clean up when the test ends (children, extra pools). */
  defer(cleanup: () => unknown): void;
}

/**
 * Declares a test that gets a fresh schema (migrated on the first `connect`).
 *
 * @example
 * dbTest("sends a job", async ({ connect }) => { const client = await connect(); ... });
 */
export function dbTest(
  name: string,
  fn: (ctx: DbContext) => Promise<void>,
  options: { timeout?: number } = {},
): void {
  test(name, { timeout: options.timeout ?? 60_000 }, async (t) => {
    const schema = uniqueSchema();
    const url = databaseUrl();
    const admin = postgres(url, { max: 3, onnotice: () => undefined });
    const cleanups: Array<() => unknown> = [];
    const ctx: DbContext = {
      t,
      schema,
      url,
      admin,
      pool(options = {}) {
        const statements: string[] = [];
        const sql = postgres(url, {
          max: 5,
          onnotice: () => undefined,
          debug: (_connection, query) => statements.push(query),
          ...options,
        });
        // Registered first, so it ends after the clients that may use it have closed.
        cleanups.unshift(() => sql.end({ timeout: 1 }));
        return { sql, statements };
      },
      async connect(options = {}) {
        const client = await connect({ pollInterval: false, max: 5, ...options, url, schema });
        cleanups.push(() => client.close({ timeout: 1000 }));
        return client;
      },
      defer(cleanup) {
        cleanups.push(cleanup);
      },
    };
    let passed = false;
    try {
      await fn(ctx);
      passed = true;
    } finally {
      for (const cleanup of cleanups.reverse()) {
        try {
          await cleanup();
        } catch (error) {
          console.error(`cleanup after "${name}" failed:`, error);
        }
      }
      if (passed) await admin.unsafe(`drop schema if exists "${schema}" cascade`);
      else console.error(`# kept schema ${schema} of failed test "${name}"`);
      await admin.end();
    }
  });
}

/** Rejects with a message naming what was awaited if `promise` takes longer than `ms`. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`timed out after ${ms}ms waiting for ${what}`)),
          ms,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Re-checks a database condition until it holds. For states no event announces (rows another
 * process wrote); anything the library signals is awaited directly instead.
 */
export async function until(
  check: () => Promise<boolean> | boolean,
  ms: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms}ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Waits until a statement whose text contains `fragment` waits for a lock on the database (one
 * the test holds, to stop that statement at a chosen point).
 */
export async function untilWaitingForLock(
  admin: postgres.Sql,
  fragment: string,
  what: string,
): Promise<void> {
  await until(
    async () =>
      (
        await admin`select 1 from pg_stat_activity
                    where wait_event_type = 'Lock' and query like ${"%" + fragment + "%"}`
      ).length > 0,
    5000,
    what,
  );
}

/** A promise with its resolve function, for handlers that report back to the test. */
export function signal<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
