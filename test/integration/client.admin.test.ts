import assert from "node:assert/strict";
import { QueueInUseError, ValidationError } from "../../src/index.js";
import { dbTest, explainQuery } from "../helpers/db.js";

dbTest("queues() lists every queue with its options and counts by state", async ({ connect }) => {
  const client = await connect();
  const a = await client.createQueue<number>("a", { maxAttempts: 2, leaseTime: "10s" });
  await client.createQueue("b", { maxSize: 100 });
  await a.send(1);
  await a.send(2, { delay: "1h" });
  const failed = await a.send(3);
  await a.cancel(failed);
  const queues = await client.queues();
  assert.deepEqual(
    queues.map((q) => q.name),
    ["a", "b"],
  );
  const [qa, qb] = queues;
  assert.deepEqual(qa!.counts, { queued: 2, running: 0, completed: 0, failed: 0, cancelled: 1 });
  assert.equal(qa!.delayed, 1);
  assert.equal(qa!.waiting, 0);
  assert.equal(qa!.maxAttempts, 2);
  assert.equal(qa!.leaseMs, 10_000);
  assert.equal(qb!.maxSize, 100);
  assert.deepEqual(await client.queueInfo("b"), qb);
  assert.equal(await client.queueInfo("nope"), null);
});

dbTest("jobs() pages through jobs newest first, by queue and state", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue<number>("pages");
  const other = await client.createQueue<number>("other");
  const ids: string[] = [];
  for (let i = 0; i < 7; i++) ids.push(await q.send(i));
  await other.send(99);
  await q.cancel(ids[1]!);
  await q.cancel(ids[4]!);

  const seen: string[] = [];
  let page = await client.jobs({ queue: "pages", limit: 3 });
  for (;;) {
    assert.ok(page.jobs.length <= 3);
    seen.push(...page.jobs.map((j) => j.id));
    if (!page.nextCursor) break;
    page = await client.jobs({ queue: "pages", limit: 3, cursor: page.nextCursor });
  }
  assert.deepEqual(seen, [...ids].reverse(), "every job once, newest first");

  const cancelled = await client.jobs({ queue: "pages", state: "cancelled" });
  assert.deepEqual(
    cancelled.jobs.map((j) => j.id),
    [ids[4], ids[1]],
  );
  assert.equal(cancelled.nextCursor, null);
  const all = await client.jobs();
  assert.equal(all.jobs.length, 8);
  assert.equal(all.jobs[0]!.queue, "other");
  assert.equal((await client.job(ids[0]!))?.payload, 0);
  assert.equal(await client.job("0190a6f4-0000-7000-8000-000000000001"), null);
});

dbTest("jobs() and job() refuse bad input with a ValidationError", async ({ connect }) => {
  const client = await connect();
  await assert.rejects(client.jobs({ state: "done" as never }), (e: unknown) => {
    assert.ok(e instanceof ValidationError);
    assert.match(e.message, /one of queued, running, completed, failed, cancelled/);
    return true;
  });
  await assert.rejects(client.jobs({ limit: 0 }), ValidationError);
  await assert.rejects(client.jobs({ cursor: "page-2" }), ValidationError);
  await assert.rejects(client.jobs({ queue: "a b" }), ValidationError);
  await assert.rejects(client.jobs({ sort: "id" } as never), /unknown/);
  await assert.rejects(client.job("42"), ValidationError);
});

dbTest(
  "deleteQueue deletes an idle queue and its finished jobs, and keeps a busy one",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<number>("doomed", { deadLetter: "doomed-dead" });
    const id = await q.send(1);
    await assert.rejects(client.deleteQueue("doomed"), (e: unknown) => {
      assert.ok(e instanceof QueueInUseError);
      assert.equal(e.reason, "unfinished jobs");
      return true;
    });
    await assert.rejects(client.deleteQueue("doomed-dead"), /dead-lettering into it/);
    await q.cancel(id);
    await client.schedule("tick", { queue: "doomed", every: "1h" });
    await assert.rejects(client.deleteQueue("doomed"), /schedule/);
    await client.unschedule("tick");
    assert.equal(await client.deleteQueue("doomed"), true);
    assert.equal(await client.queueInfo("doomed"), null);
    const [row] = await admin.unsafe(`select count(*)::int as n from "${schema}"._jobs`);
    assert.equal(row!.n, 0, "its finished jobs went with it");
    assert.equal(await client.deleteQueue("doomed"), false);
    assert.equal(await client.deleteQueue("doomed-dead"), true);
  },
);

dbTest(
  "listing failed jobs reads the failed-jobs index, not the finished ones",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<number>("big");
    await q.sendMany(Array.from({ length: 3000 }, (_, i) => ({ payload: i })));
    await admin.unsafe(
      `update "${schema}"._jobs set finished_at = now(),
         state = case when (payload::text::int) % 500 = 0 then 'failed' else 'completed' end::"${schema}".job_state`,
    );
    await admin.unsafe(`analyze "${schema}"._jobs`);
    const plan = await explainQuery(admin, schema, "listJobs", ["big", "{failed}", null, 51]);
    assert.match(plan, /_jobs_failed_idx/, plan);
    const page = await client.jobs({ queue: "big", state: "failed" });
    assert.deepEqual(
      page.jobs.map((j) => j.payload),
      [2500, 2000, 1500, 1000, 500, 0],
    );
  },
);

dbTest(
  "jobs({ state }) works on a pool whose connections predate the schema",
  async ({ url, schema, defer }) => {
    // postgres.js learns array types when a connection opens: one opened before the migration
    // made the job_state enum does not know job_state[].
    const { default: postgres } = await import("postgres");
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    defer(() => sql.end({ timeout: 1 }));
    await sql`select 1`;
    const { connect } = await import("../../src/index.js");
    const client = await connect({ sql: sql as never, schema, pollInterval: false });
    defer(() => client.close({ timeout: 1000 }));
    const q = await client.createQueue("early");
    const id = await q.send(1);
    await q.cancel(id);
    const page = await client.jobs({ state: "cancelled" });
    assert.deepEqual(
      page.jobs.map((j) => j.id),
      [id],
    );
  },
);
