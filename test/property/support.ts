/**
 * What the property tests share: fast-check's run settings (from the environment, so a failure
 * can be replayed and a quiet machine can run many more cases), and small helpers over a real
 * PostgreSQL. Not a test file (no `.test.ts`).
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import fc, { type IAsyncProperty, type Parameters } from "fast-check";
import { PgwakeError, type Client } from "../../src/index.js";
import { quoteIdentifier } from "../../src/db/identifiers.js";
import { until, within } from "../helpers/db.js";

/**
 * `PGWAKE_FC_RUNS=500` runs more cases than the default (kept small so the suite stays fast on
 * a loaded 2-core machine); `PGWAKE_FC_SEED` and `PGWAKE_FC_PATH`, as printed by a failure,
 * replay it.
 *
 * Each property stops after `seconds` (`PGWAKE_FC_SECONDS` overrides it), whatever it was doing:
 * on a slow machine it then passes with fewer cases, and a failure it found is reported with the
 * smallest case shrinking reached, before the runner's time limit for the file (120 s) kills it
 * with nothing to show. For long runs, raise both: see the README.
 */
export function fcParameters<T>(defaultRuns: number, seconds: number): Parameters<T> {
  const runs = Number(process.env.PGWAKE_FC_RUNS ?? defaultRuns);
  const seed = process.env.PGWAKE_FC_SEED;
  const path = process.env.PGWAKE_FC_PATH;
  return {
    numRuns: runs,
    ...(seed === undefined ? {} : { seed: Number(seed) }),
    ...(path === undefined ? {} : { path }),
    interruptAfterTimeLimit: Number(process.env.PGWAKE_FC_SECONDS ?? seconds) * 1000,
    markInterruptAsFailure: false,
  };
}

/** A property test's own time limit: the property's, and a minute for setup and shrinking. */
export const PROPERTY_TEST_TIMEOUT =
  process.env.PGWAKE_FC_SECONDS === undefined
    ? 110_000
    : Number(process.env.PGWAKE_FC_SECONDS) * 1000 + 60_000;

/**
 * Runs a property like `fc.assert`, and says how many cases ran (fewer than asked when the time
 * limit stopped it on a slow machine).
 */
export async function checkProperty<T>(
  property: IAsyncProperty<T>,
  parameters: Parameters<T>,
): Promise<void> {
  const details = await fc.check(property, parameters);
  if (details.failed) {
    throw new Error(fc.defaultReportMessage(details) ?? "the property failed", {
      cause: details.errorInstance,
    });
  }
  const stopped = details.interrupted ? ", stopped at the time limit" : "";
  console.log(`# property held for ${details.numRuns} cases${stopped}`);
}

/** How a promise settled, captured so that nothing is an unhandled rejection. */
export type Settled = { ok: true; value: unknown } | { ok: false; error: unknown };

export function capture(promise: PromiseLike<unknown>): Promise<Settled> {
  return Promise.resolve(promise).then(
    (value) => ({ ok: true, value }),
    (error: unknown) => ({ ok: false, error }),
  );
}

/** Asserts that `error` is one of pgwake's typed errors (and says what it was if not). */
export function assertPgwakeError(error: unknown, what: string): asserts error is PgwakeError {
  assert.ok(
    error instanceof PgwakeError,
    `${what} must reject with a PgwakeError, got ${error instanceof Error ? `${error.name}: ${error.message}\n${error.stack}` : String(error)}`,
  );
}

/** The value JSON gives back for `value` (`-0` → `0`, `undefined` properties left out). */
export function jsonRoundTrip(value: unknown): unknown {
  return value === undefined ? null : (JSON.parse(JSON.stringify(value)) as unknown);
}

/** `"schema".table`, quoted for SQL whatever the schema's name. */
export function table(schema: string, name: string): string {
  return `${quoteIdentifier(schema)}.${name}`;
}

export async function countRows(admin: postgres.Sql, schema: string, name: string) {
  const [row] = await admin.unsafe(`select count(*)::int as n from ${table(schema, name)}`);
  return row!.n as number;
}

/**
 * Terminates every backend of `client` (its pool and its listener) and waits until the listener
 * has reconnected and the pool answers again.
 */
export async function reconnect(admin: postgres.Sql, client: Client): Promise<void> {
  const reconnected = new Promise((resolve) => client.once("listener:reconnect", resolve));
  const killed = await admin<Array<{ pid: number }>>`
    select pid, pg_terminate_backend(pid) from pg_stat_activity
    where application_name in (${`pgwake ${client.name}`}, ${`pgwake ${client.name} listener`})`;
  assert.ok(killed.length >= 1, "the client has at least its listener connection");
  await within(reconnected, 20_000, "the listener to reconnect");
  const pids = killed.map((row) => row.pid);
  await until(
    async () => (await admin`select 1 from pg_stat_activity where pid = any(${pids})`).length === 0,
    10_000,
    "the terminated backends to exit",
  );
  // A pool connection may stall for its connect_timeout (10 s in pgwake's pools) after a
  // termination, a postgres.js 3.4.9 bug (see src/db/pool-options.ts): allow more than that.
  await until(async () => (await client.health()).ok, 25_000, "the client to be healthy again");
}
