import assert from "node:assert/strict";
import type postgres from "postgres";
import { ValidationError, type Client } from "../../src/index.js";
import { dbTest, within } from "../helpers/db.js";
import { exerciseQueueFlow } from "../helpers/queue-flow.js";

/** The client's connections by kind, from the server's own view. */
async function connectionsOf(
  admin: postgres.Sql,
  client: Client,
): Promise<{ pool: number; listener: number }> {
  const rows = await admin<Array<{ name: string }>>`
    select application_name as name from pg_stat_activity
    where application_name like ${`pgwake ${client.name}%`}`;
  return {
    pool: rows.filter((row) => row.name === `pgwake ${client.name}`).length,
    listener: rows.filter((row) => row.name === `pgwake ${client.name} listener`).length,
  };
}

dbTest(
  "poll mode (listenUrl: false): no LISTEN connection, and every wait still ends by polling",
  async ({ connect, admin }) => {
    const options = { listenUrl: false, pollInterval: "100ms" } as const;
    const [producer, worker] = await Promise.all([connect(options), connect(options)]);

    await exerciseQueueFlow(producer, worker);

    for (const client of [producer, worker]) {
      const connections = await connectionsOf(admin, client);
      assert.ok(connections.pool > 0, "the pool's connections are visible (the query works)");
      assert.equal(connections.listener, 0, "no LISTEN connection was ever made");
    }
    assert.deepEqual(await worker.health(), { ok: true, database: true, listening: false });
  },
  { timeout: 120_000 },
);

dbTest("a normal client beside poll-mode clients has its LISTEN connection", async (ctx) => {
  const client = await ctx.connect();
  assert.deepEqual(await connectionsOf(ctx.admin, client).then((c) => c.listener), 1);
  assert.deepEqual(await client.health(), { ok: true, database: true, listening: true });
});

dbTest(
  "poll mode finds jobs sent with SQL by another session, with no NOTIFY reaching it",
  async ({ connect, admin, schema }) => {
    const worker = await connect({ listenUrl: false, pollInterval: "200ms" });
    const q = await worker.createQueue<number, number>("polled");
    const handled: number[] = [];
    q.work(async (job) => {
      handled.push(job.payload);
      return job.payload;
    });
    // Jobs sent with SQL from another session: their NOTIFYs reach nobody in this client.
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) {
      const [row] = await admin.unsafe<Array<{ id: string }>>(
        `select "${schema}".send('polled', to_jsonb($1::int))::text as id`,
        [i],
      );
      ids.push(row!.id);
    }
    assert.deepEqual(
      await within(
        Promise.all(ids.map((id) => q.completion(id))),
        30_000,
        "the SQL-sent jobs to complete",
      ),
      [1, 2, 3, 4, 5],
    );
    assert.deepEqual(
      handled.sort((a, b) => a - b),
      [1, 2, 3, 4, 5],
    );
  },
);

dbTest("poll mode refuses pollInterval: false and intervals under 50ms", async ({ connect }) => {
  await assert.rejects(connect({ listenUrl: false, pollInterval: false }), ValidationError);
  await assert.rejects(connect({ listenUrl: false, pollInterval: 10 }), /at least 50ms/);
});
