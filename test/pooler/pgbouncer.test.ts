/**
 * pgwake behind PgBouncer in transaction pooling mode, started by this file (see pgbouncer.ts).
 * Run by `npm run test:pooler`, not by `npm test`: a fresh machine has no PgBouncer.
 *
 * Debian's PgBouncer (1.18) cannot keep prepared statements in transaction mode (that came with
 * `max_prepared_statements` in 1.21), so the pooled clients here use `prepare: false` with it.
 * PGWAKE_PGBOUNCER=/path/to/pgbouncer runs the file against another build; from 1.21 on, the
 * config sets max_prepared_statements and the main flow keeps prepared statements on.
 */
import assert from "node:assert/strict";
import { after, before } from "node:test";
import postgres from "postgres";
import { connect, NotificationsLostError, type ConnectOptions } from "../../src/index.js";
import { databaseUrl, dbTest, until, within, type DbContext } from "../helpers/db.js";
import { exerciseQueueFlow } from "../helpers/queue-flow.js";
import { Client } from "../../src/client.js";
import { cli } from "../cli/capture.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";
import { startPgbouncer, type Bouncer } from "./pgbouncer.js";

let bouncer: Bouncer;

before(async () => {
  bouncer = await startPgbouncer(databaseUrl(), "transaction");
  console.log(
    `# ${bouncer.version}, transaction mode; prepared statements ${bouncer.keepsPrepared ? "kept (max_prepared_statements)" : "not kept: clients use prepare: false"}`,
  );
});

after(async () => {
  await bouncer?.stop();
});

/** A client of the test's schema with these options (url included), closed when the test ends. */
async function pooledClient(ctx: DbContext, options: ConnectOptions) {
  const client = await within(
    connect({ schema: ctx.schema, max: 5, ...options }),
    60_000,
    `connect(${JSON.stringify({ ...options, url: undefined, listenUrl: undefined })})`,
  );
  ctx.defer(() => within(client.close({ timeout: 1000 }), 30_000, `${client.name} to close`));
  return client;
}

dbTest("the test's PgBouncer really pools: its connections are not server processes", async () => {
  const sql = postgres(bouncer.url, { max: 1, onnotice: () => undefined });
  try {
    const result = await sql`select pg_backend_pid() as pid`;
    const loginPid = (result as unknown as { state: { pid: number } }).state.pid;
    assert.notEqual(loginPid, result[0]!.pid, "PgBouncer hands out process ids of its own");
  } finally {
    await sql.end();
  }
});

dbTest(
  "through PgBouncer with a direct listenUrl: every wait ends, nothing lost",
  async (ctx) => {
    // Prepared statements stay on where the PgBouncer can keep them (1.21+, PGWAKE_PGBOUNCER).
    const options = { url: bouncer.url, listenUrl: ctx.url, prepare: bouncer.keepsPrepared };
    const producer = await pooledClient(ctx, options);
    const worker = await pooledClient(ctx, options);
    await exerciseQueueFlow(producer, worker);
    for (const client of [producer, worker]) {
      assert.deepEqual(await client.health(), { ok: true, database: true, listening: true });
    }
  },
  { timeout: 120_000 },
);

dbTest(
  "eight clients starting at once through PgBouncer migrate a fresh schema exactly once",
  async (ctx) => {
    // Migrations serialise on a session advisory lock, which a transaction pooler would leave on
    // one server connection while the statements run on others: they go over listenUrl instead.
    const clients = await within(
      Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          pooledClient(ctx, {
            url: bouncer.url,
            listenUrl: ctx.url,
            prepare: false,
            max: 2,
            name: `migrating-${i}`,
          }),
        ),
      ),
      60_000,
      "eight clients to connect and migrate",
    );
    const rows = await ctx.admin.unsafe<Array<{ version: number }>>(
      `select version from "${ctx.schema}"._migrations order by version`,
    );
    const versions = rows.map((row) => row.version);
    assert.ok(versions.length >= 5, `migrated to ${versions.join(", ")}`);
    assert.deepEqual(versions, [...new Set(versions)], "each migration recorded once");
    const q = await clients[0]!.createQueue<number, number>("after-migrate");
    clients[7]!.queue<number, number>("after-migrate").work(async (job) => job.payload + 1);
    assert.equal(await within(q.send(1).completed, 30_000, "a job across two clients"), 2);
  },
  { timeout: 120_000 },
);

dbTest(
  "LISTEN through the transaction pooler fails connect with NotificationsLostError",
  async (ctx) => {
    // The usual mistake (one URL, the pooler's, for everything) and its mirror image (a pooled
    // listenUrl): both are caught, and the error says what to change.
    const attempts = [
      { url: bouncer.url, prepare: false, name: "lost-listen-1" },
      { url: ctx.url, listenUrl: bouncer.url, name: "lost-listen-2" },
    ];
    const started = performance.now();
    const errors = await Promise.all(
      attempts.map((options) =>
        pooledClient(ctx, options).then(
          () => assert.fail(`connect(${JSON.stringify(options)}) succeeded`),
          (error: unknown) => error,
        ),
      ),
    );
    for (const error of errors) {
      assert.ok(error instanceof NotificationsLostError, String(error));
      assert.equal(error.code, "NOTIFICATIONS_LOST");
      assert.equal(error.throughPooler, true, "the pooler in the way was recognised");
      assert.match(error.message, /goes through a connection pooler/);
      assert.match(error.message, /listenUrl set to a direct connection/);
      assert.match(error.message, /listenUrl: false/);
    }
    assert.ok(performance.now() - started < 60_000, "connect gave up within its probe timeout");
    // A failed connect closes what it opened. The second attempt's pool is direct, so the server
    // shows its connections (PgBouncer keeps its own server connections open, whoever used them).
    await until(
      async () => {
        const [row] = await ctx.admin<Array<{ n: number }>>`
          select count(*)::int as n from pg_stat_activity
          where application_name = 'pgwake lost-listen-2'`;
        return row?.n === 0;
      },
      10_000,
      "the failed clients' connections to close",
    );
  },
  { timeout: 120_000 },
);

dbTest(
  "poll mode through PgBouncer: no LISTEN anywhere, every wait ends by polling",
  async (ctx) => {
    // Migrations need a connection that keeps session state, which poll mode behind a
    // transaction pooler does not have: they run elsewhere first (here a direct client; in
    // production `pgwake migrate --url <direct>` at deploy time), and the clients check the
    // schema's version only.
    await ctx.connect();
    const options = {
      url: bouncer.url,
      listenUrl: false as const,
      prepare: false,
      pollInterval: 100,
      migrate: false,
    };
    const producer = await pooledClient(ctx, options);
    const worker = await pooledClient(ctx, options);
    await exerciseQueueFlow(producer, worker);
    assert.deepEqual(await worker.health(), { ok: true, database: true, listening: false });
  },
  { timeout: 120_000 },
);

dbTest(
  "a listener that reconnects to where notifications do not reach is probed again, reported and replaced",
  async (ctx) => {
    // The listen URL leads to PostgreSQL at connect, and to the pooler after a "failover".
    const direct = new URL(ctx.url);
    const proxy = await TcpProxy.start({
      host: direct.hostname,
      port: Number(direct.port || 5432),
    });
    ctx.defer(() => proxy.close());
    const listenUrl = new URL(ctx.url);
    listenUrl.hostname = "127.0.0.1";
    listenUrl.port = String(proxy.port);
    const client = await pooledClient(ctx, {
      url: ctx.url,
      listenUrl: listenUrl.toString(),
      name: "reprobed",
    });
    const errors: unknown[] = [];
    client.on("error", (error) => errors.push(error));
    const bouncerUrl = new URL(bouncer.url);
    proxy.retarget({ host: bouncerUrl.hostname, port: Number(bouncerUrl.port) });
    const reconnected = new Promise<void>((resolve) =>
      Client.runtimeOf(client).once("listener:reconnect", () => resolve()),
    );
    proxy.cutAll();
    await within(reconnected, 30_000, "the listener to reconnect");
    await until(
      async () => errors.some((error) => error instanceof NotificationsLostError),
      30_000,
      "the probe after the reconnect to be reported lost",
    );
    const lost = errors.find((error) => error instanceof NotificationsLostError)!;
    assert.equal((lost as NotificationsLostError).throughPooler, true);
    // Pointed back at PostgreSQL, the next connection's probe arrives: health says listening.
    proxy.retarget({ host: direct.hostname, port: Number(direct.port || 5432) });
    proxy.cutAll();
    await until(
      async () => (await client.health()).listening,
      30_000,
      "the listener to be back on PostgreSQL",
    );
    const q = await client.createQueue<number, number>("reprobed");
    q.work(async (job) => job.payload + 1);
    assert.equal(await within(q.send(1).completed, 30_000, "a job after the failover"), 2);
  },
  { timeout: 120_000 },
);

dbTest(
  "the CLI through PgBouncer: --no-prepare with --listen-url, and --no-listen",
  async (ctx) => {
    const worker = await ctx.connect();
    const q = await worker.createQueue<number, number>("cli-pooled");
    q.work(async (job) => job.payload * 2);
    const env = { PGWAKE_SCHEMA: ctx.schema };
    const pooled = ["--url", bouncer.url, "--no-prepare"];
    const listening = await within(
      cli(["send", "cli-pooled", "21", "--wait", ...pooled, "--listen-url", ctx.url], env),
      60_000,
      "pgwake send --wait with --listen-url",
    );
    assert.equal(listening.code, 0, listening.stderr);
    assert.match(listening.stdout, /^42$/m);
    // The environment's switches say the same as the flags.
    const fromEnv = await within(
      cli(["send", "cli-pooled", "1", "--wait", "--url", bouncer.url], {
        ...env,
        PGWAKE_LISTEN_URL: ctx.url,
        PGWAKE_PREPARE: "false",
      }),
      60_000,
      "pgwake send --wait with PGWAKE_LISTEN_URL and PGWAKE_PREPARE",
    );
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.match(fromEnv.stdout, /^2$/m);
    const polling = await within(
      cli(["send", "cli-pooled", "5", "--wait", ...pooled, "--no-listen"], env),
      60_000,
      "pgwake send --wait with --no-listen",
    );
    assert.equal(polling.code, 0, polling.stderr);
    assert.match(polling.stdout, /^10$/m);
    // The mistake: LISTEN through the pooler is refused with the advice.
    const lost = await within(
      cli(["queues", ...pooled], env),
      60_000,
      "pgwake queues with LISTEN through PgBouncer",
    );
    assert.equal(lost.code, 1);
    assert.match(lost.stderr, /goes through a connection pooler/);
    assert.match(lost.stderr, /Give --listen-url \(or PGWAKE_LISTEN_URL\) a direct connection/);
    assert.match(lost.stderr, /--no-listen/);
  },
  { timeout: 120_000 },
);

dbTest("PgBouncer never received a reply it could not route to its client", async () => {
  // Runs after the tests above. PgBouncer before 1.21 hands a server connection back at a
  // statement's end even when the client has already sent the next one on it (postgres.js
  // pipelines): the replies to that one arrive "when not linked" and are dropped, and the
  // statement waits forever. With prepare: false, pgwake's pool sends one statement at a time.
  // (Notifications, packet 'A', do arrive unlinked: those of the LISTEN-through-PgBouncer test.)
  const unrouted = bouncer
    .log()
    .split("\n")
    .filter((line) => line.includes("when not linked") && !line.includes("packet 'A'"));
  assert.deepEqual(unrouted, []);
});
