/**
 * postgres.js 3.4.9 hands a statement to an idle connection whose socket has failed but not yet
 * closed (the error and the close come on different turns of the event loop), and nothing ever
 * answers it (src/db/orphans.ts). These tests make that happen on purpose: a proxy resets the
 * pool's idle connection together with a sentinel socket of the test's own, and the statement is
 * sent from the check phase of the turn in which the sentinel (and so the pool) saw the reset.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import postgres from "postgres";
import { checkRan, compactRows, type OrphanGuard } from "../../src/db/orphans.js";
import { Pool } from "../../src/db/pool.js";
import { Queries, type Db } from "../../src/db/queries.js";
import { DatabaseError, isConnectionError } from "../../src/errors.js";
import { dbTest, until, type DbContext } from "../helpers/db.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";

interface Setup {
  proxy: TcpProxy;
  queries: Queries;
  db: Db;
  guard: OrphanGuard;
  pool: Pool;
  /** Makes the pool again, as a stuck connection of it does (src/db/socket.ts). */
  renew(): void;
}

/** A one-connection pool set up as pgwake sets up its own, through a proxy the test controls. */
async function proxiedPool({ url, schema, defer }: DbContext): Promise<Setup> {
  const target = new URL(url);
  const proxy = await TcpProxy.start({ host: target.hostname, port: Number(target.port || 5432) });
  defer(() => proxy.close());
  const proxied = new URL(url);
  proxied.hostname = "127.0.0.1";
  proxied.port = String(proxy.port);
  const pool = new Pool(undefined, (onclose) =>
    postgres(proxied.toString(), {
      max: 1,
      ...{ max_pipeline: 0 }, // as pgwake's pools (src/runtime.ts); not in the driver's types
      fetch_types: false,
      connect_timeout: 2,
      onnotice: () => undefined,
      onclose,
    }),
  );
  defer(() => pool.end());
  const { db, orphans: guard } = pool;
  const queries = new Queries(schema, false, pool);
  await queries.databaseNow(db); // the connection is open, and idle
  // What a stuck connection of the current pool makes it do (src/db/socket.ts).
  const renew = (): void => (pool as unknown as { renew(): void }).renew();
  return { proxy, queries, db, guard, pool, renew };
}

/**
 * Resets every connection through the proxy and runs `send` between the pool's error and close;
 * resolves once it is sent, with what it settled with (an Error, or its value).
 */
async function sendAcrossReset<T>(
  proxy: TcpProxy,
  send: () => Promise<T>,
): Promise<{ outcome: Promise<T | Error> }> {
  const sentinel = net.connect(proxy.port, "127.0.0.1");
  await new Promise((resolve) => sentinel.once("connect", resolve));
  while (proxy.connections < 2) await new Promise((resolve) => setImmediate(resolve));
  const sent = new Promise<{ outcome: Promise<T | Error> }>((resolve) => {
    sentinel.once("error", () =>
      setImmediate(() => resolve({ outcome: send().catch((error: Error) => error) })),
    );
  });
  proxy.cutAll();
  return sent;
}

dbTest(
  "a statement sent on a connection that just broke is given up with a connection error, not left waiting",
  async (ctx) => {
    const { proxy, queries, db, guard } = await proxiedPool(ctx);
    const started = performance.now();
    const orphan = await sendAcrossReset(proxy, () => queries.databaseNow(db));
    const error = await orphan.outcome;
    assert.ok(error instanceof DatabaseError && isConnectionError(error), String(error));
    assert.match(error.message, /after a connection closed beside it/);
    const waited = performance.now() - started;
    assert.ok(waited >= 4_000 && waited < 15_000, `given up after ${Math.round(waited)} ms`);
    assert.equal(guard.size, 0);
    // The driver left the orphan's bytes in that connection's write buffer, so reopening it would
    // time out every time (connect_timeout, 2 s here): the pool was made again, and answers.
    const reopened = performance.now();
    assert.ok((await queries.databaseNow(db)) > 0);
    assert.ok(performance.now() - reopened < 1500, "no connect timeout on the renewed pool");
  },
  { timeout: 30_000 },
);

dbTest(
  "a connection the driver left unable to log in is given up at once, and the pool made again",
  async (ctx) => {
    const { proxy, queries, db } = await proxiedPool(ctx);
    const orphan = await sendAcrossReset(proxy, () => queries.databaseNow(db));
    // The orphan's bytes stay in the closed connection's write buffer, with the driver's timer
    // id still set: reopening it for the next statement sends nothing, not even the login.
    const started = performance.now();
    const next = await queries.databaseNow(db).catch((error: Error) => error);
    assert.ok(
      performance.now() - started < 1000,
      `settled after ${performance.now() - started} ms`,
    );
    assert.ok(next instanceof DatabaseError && isConnectionError(next), String(next));
    assert.match(next.message, /sent nothing on a new connection/);
    // The orphan went with it (that connection is given up), and the new pool answers at once.
    const lost = await orphan.outcome;
    assert.ok(lost instanceof DatabaseError && isConnectionError(lost), String(lost));
    const renewed = performance.now();
    assert.ok((await queries.databaseNow(db)) > 0);
    assert.ok(performance.now() - renewed < 1000, "the renewed pool answers without a timeout");
    assert.equal(proxy.connections, 1, "the old pool's connection is gone, the new one's open");
  },
  { timeout: 30_000 },
);

dbTest(
  "a replaced pool is ended once its statements have settled, and stays ended",
  async (ctx) => {
    const { proxy, queries, db, pool, renew } = await proxiedPool(ctx);
    const slow = pool.watch(db.unsafe("select pg_sleep(0.3)", []).values(), 5000);
    // Queued in the driver behind the slow one (one connection). Ending the pool now would
    // reopen a connection for it after the end, or destroy it.
    const queued = pool.watch(db.unsafe("select 2", []).values(), 5000);
    renew();
    assert.ok((await queries.databaseNow(db)) > 0, "the new pool answers meanwhile");
    assert.equal(proxy.connections, 2);
    await slow;
    assert.deepEqual((await queued)[0], [2]);
    await until(() => proxy.connections === 1, 5000, "the old pool's connection to close");
    await pool.end();
    await until(() => proxy.connections === 0, 5000, "the new pool's connection to close");
    // Nothing reopens one after the end: a short look, since no event says "nothing happened".
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(proxy.connections, 0);
  },
  { timeout: 30_000 },
);

dbTest(
  "closing right after a pool was replaced lets the statements queued in the old one run, then keeps no connection",
  async (ctx) => {
    const { proxy, db, pool, renew } = await proxiedPool(ctx);
    const slow = pool.watch(db.unsafe("select pg_sleep(0.3)", []).values(), 5000);
    const queued = pool.watch(db.unsafe("select 3", []).values(), 5000);
    renew();
    await pool.end();
    await slow;
    assert.deepEqual((await queued)[0], [3]);
    await until(() => proxy.connections === 0, 5000, "every connection to close");
    // Nothing reopens one after the end: a short look, since no event says "nothing happened".
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(proxy.connections, 0);
  },
  { timeout: 30_000 },
);

dbTest(
  "an orphan the driver answers with an empty result when it reopens the connection is refused",
  async (ctx) => {
    const client = await ctx.connect(); // installs the schema
    await client.createQueue("orphans");
    const { proxy, queries, db } = await proxiedPool(ctx);
    // A filtered claim's text is over 1 KB, so the driver writes it at once (to the dead socket)
    // instead of buffering it, and the reopened connection starts clean.
    const orphan = await sendAcrossReset(proxy, () =>
      queries.claimJobs(db, "orphans", 1, "test", { shard: 1 }),
    );
    const reopened = queries.databaseNow(db);
    const error = await orphan.outcome;
    assert.ok(error instanceof DatabaseError && isConnectionError(error), String(error));
    assert.match(error.message, /closed before the statement ran/);
    assert.ok((await reopened) > 0);
  },
  { timeout: 30_000 },
);

dbTest(
  "the first answer after a connection broke in the middle of one has no empty slots",
  async (ctx) => {
    const { proxy, queries, db } = await proxiedPool(ctx);
    // Rows 1-4,999 arrive at once; then the server sleeps, and the connection is cut meanwhile.
    const cutShort = db
      .unsafe(
        "select g, case when g = 5000 then pg_sleep(2) end from generate_series(1, 10000) g",
        [],
      )
      .values();
    setTimeout(() => proxy.cutAll(), 500);
    await assert.rejects(Promise.resolve(cutShort), (error) => isConnectionError(error));
    // The driver would store this answer's row after 4,999 empty slots (src/db/orphans.ts).
    assert.ok((await queries.databaseNow(db)) > 0);
    const rows = await queries.run(db, "databaseNow", []);
    assert.equal(rows.length, 1);
    assert.ok(0 in rows);
  },
  { timeout: 30_000 },
);

test("rows after empty slots are compacted; a dense answer is returned as it is", () => {
  const sparse: number[][] = [];
  sparse[3] = [1];
  sparse[4] = [2];
  assert.deepEqual(compactRows(sparse), [[1], [2]]);
  const dense = [[1], [2]];
  assert.equal(compactRows(dense), dense);
  assert.deepEqual(compactRows([]), []);
});

test("a result that names its command passes; one that does not is a connection error", () => {
  assert.doesNotThrow(() => checkRan(Object.assign([], { command: "SELECT" })));
  assert.throws(
    () => checkRan(Object.assign([], { command: null })),
    (error: Error) =>
      isConnectionError(error) && /closed before the statement ran/.test(error.message),
  );
});
