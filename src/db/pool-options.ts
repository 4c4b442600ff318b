/**
 * How pgwake sets up the postgres.js pools it makes, and why. Both settings come from the chaos
 * test (test/chaos/), which restarts PostgreSQL under busy clients.
 *
 * **Reconnect delay.** postgres.js waits before it reconnects a connection whose last attempt
 * failed, by a delay that grows as 3^n / 100 s up to 20 s, where n counts every failed attempt of
 * the whole pool since its last successful connect. A busy pool fails dozens of attempts while
 * the database restarts, so after a one-second restart each of its connections waited 10–20 s
 * before trying again: workers sat idle and completions went unheard long after the database was
 * back. pgwake's own loops already back off (claims, heartbeats, acks, the listener), so the
 * driver's delay stays short.
 *
 * **No type fetch.** With `fetch_types` (the driver's default), every new connection first reads
 * the array types from `pg_type`, and postgres.js 3.4.9 drops that query's promise: a connection
 * that breaks during it (a restart, `pg_terminate_backend`) rejects it unhandled, which ends a
 * Node process (porsager/postgres#1192, #1223). pgwake's pools skip the fetch, so array
 * parameters are passed as array literals ({@link arrayLiteral}), which need no fetched type.
 */

/** The `backoff` of pools pgwake makes, in seconds: 10 ms doubling per failure, up to 1 s, jittered. */
export function reconnectDelaySeconds(failures: number): number {
  return Math.min(1, 0.01 * 2 ** failures) * (0.5 + Math.random() / 2);
}

/** The listener's `backoff`: none, since its own retry loop backs off. */
export function noReconnectDelay(): number {
  return 0;
}

/**
 * A PostgreSQL array literal (`{"a","b"}`) for a `$n::uuid[]` or `$n::text[]` parameter. Sent as
 * text, it needs no array type fetched by the driver; postgres.js passes strings through as they
 * are, also in a user's pool that did fetch the types.
 */
export function arrayLiteral(values: readonly string[]): string {
  return `{${values.map((value) => `"${value.replace(/["\\]/g, "\\$&")}"`).join(",")}}`;
}
