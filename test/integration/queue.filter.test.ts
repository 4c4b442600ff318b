import assert from "node:assert/strict";
import type { Job } from "../../src/index.js";
import { dbTest, explainQuery, within } from "../helpers/db.js";

dbTest(
  "receive and work take only jobs whose attributes contain the filter",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue<string>("regions");
    await q.sendMany([
      { payload: "eu-1", options: { attributes: { region: "eu", tier: 1 } } },
      { payload: "us-1", options: { attributes: { region: "us", tier: 1 } } },
      { payload: "eu-2", options: { attributes: { region: "eu", tier: 2 } } },
      { payload: "none" },
    ]);
    const eu: string[] = [];
    for await (const job of q.receive({ filter: { region: "eu" }, batch: 5 })) {
      eu.push(job.payload);
      assert.equal(job.attributes.region, "eu");
      await job.ack();
      if (eu.length === 2) break;
    }
    assert.deepEqual(eu, ["eu-1", "eu-2"]);
    const tierOne: Array<Job<string>> = [];
    const worker = q.work(async (job) => void tierOne.push(job), {
      filter: { region: "us", tier: 1 },
    });
    await within(
      (async () => {
        while (tierOne.length === 0) await new Promise((r) => setTimeout(r, 10));
      })(),
      5000,
      "the us tier-1 job",
    );
    await worker.stop();
    assert.deepEqual(
      tierOne.map((j) => j.payload),
      ["us-1"],
    );
    assert.deepEqual(await q.stats(), {
      queued: 1,
      running: 0,
      completed: 3,
      failed: 0,
      cancelled: 0,
    });
  },
);

dbTest("a filtered consumer is woken for matching jobs sent later", async ({ connect }) => {
  const client = await connect({ pollInterval: false });
  const q = await client.createQueue<string>("later");
  const got = (async () => {
    for await (const job of q.receive({ filter: { kind: "wanted" } })) {
      await job.ack();
      return job.payload;
    }
    return undefined;
  })();
  await q.send("not this one", { attributes: { kind: "other" } });
  await q.send("this one", { attributes: { kind: "wanted" } });
  assert.equal(await within(got, 5000, "the matching job"), "this one");
});

dbTest(
  "cancel({ filter }) cancels every unfinished matching job and says how many",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue("tenants");
    await q.sendMany([
      { payload: 1, options: { attributes: { tenant: "acme" }, delay: "1h" } },
      { payload: 2, options: { attributes: { tenant: "acme" } } },
      { payload: 3, options: { attributes: { tenant: "other" } } },
    ]);
    assert.equal(await q.cancel({ filter: { tenant: "acme" } }), 2);
    assert.deepEqual(await q.stats(), {
      queued: 1,
      running: 0,
      completed: 0,
      failed: 0,
      cancelled: 2,
    });
  },
);

dbTest(
  "a filtered claim is planned for its filter on every call; an unfiltered one keeps its plan",
  async ({ pool, connect }) => {
    // One connection, so that its prepared statements are the client's.
    const { sql } = pool({ max: 1 });
    const client = await connect({ sql: sql as never });
    const q = await client.createQueue<number>("planned");
    await q.sendMany(
      Array.from({ length: 40 }, (_, i) => ({
        payload: i,
        options: { attributes: { shard: i % 2 } },
      })),
    );
    const taken: number[] = [];
    // Eight claims of each kind: past the five after which the plan cache may go generic.
    for (let i = 0; i < 8; i++) {
      for await (const job of q.receive({ filter: { shard: 1 }, batch: 1 })) {
        taken.push(job.payload);
        await job.ack();
        break;
      }
      for await (const job of q.receive({ batch: 1 })) {
        taken.push(job.payload);
        await job.ack();
        break;
      }
    }
    assert.equal(taken.length, 16);
    assert.equal(new Set(taken).size, 16, "no job twice");
    const statements = await sql<Array<{ statement: string }>>`
      select statement from pg_prepared_statements`;
    // A filter's plan depends on the filter (the GIN index for a selective one, the claim index
    // for a broad one), so its statement is never prepared; the unfiltered claim is.
    assert.ok(!statements.some((s) => s.statement.includes("attributes @>")));
    assert.ok(statements.some((s) => s.statement.includes("_claim(")));
  },
);

dbTest(
  "a filtered claim reads an index, never the whole table",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("indexed");
    await q.sendMany(
      Array.from({ length: 2000 }, (_, i) => ({
        payload: i,
        options: { attributes: { shard: i % 100 } },
      })),
    );
    await admin.unsafe(`analyze "${schema}"._jobs`);
    const plan = await explainQuery(admin, schema, "claimJobsWhere", [
      "indexed",
      5,
      "test",
      JSON.stringify({ shard: 7 }),
    ]);
    assert.match(plan, /_jobs_(attributes|claim)_idx/, plan);
    assert.doesNotMatch(plan, /Seq Scan on _jobs/, plan);
  },
);

dbTest(
  "cancel({ filter }) reads the attributes index, not the finished jobs",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("cancel-indexed");
    await q.sendMany(
      Array.from({ length: 2000 }, (_, i) => ({
        payload: i,
        options: { attributes: { shard: i % 100 } },
      })),
    );
    // Most of the table finished, as in a real one: the cancel must not read those rows.
    await admin.unsafe(
      `update "${schema}"._jobs set state = 'completed', finished_at = now() where (payload::text::int) % 10 <> 0`,
    );
    await admin.unsafe(`analyze "${schema}"._jobs`);
    const plan = await explainQuery(admin, schema, "cancelJobsWhere", [
      "cancel-indexed",
      JSON.stringify({ shard: 7 }),
    ]);
    assert.match(plan, /_jobs_attributes_idx/, plan);
    assert.doesNotMatch(plan, /Seq Scan on _jobs/, plan);
    assert.equal(await q.cancel({ filter: { shard: 10 } }), 20, "shard 10: all 20 are unfinished");
    assert.equal(await q.cancel({ filter: { shard: 11 } }), 0, "shard 11: all finished");
  },
);
