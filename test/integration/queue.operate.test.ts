import assert from "node:assert/strict";
import { JobFailedError, ValidationError } from "../../src/index.js";
import { dbTest, within } from "../helpers/db.js";

dbTest(
  "stats counts jobs by public state; delayed and retrying jobs count as queued",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue<string>("s", { maxAttempts: 1 });
    const ids = await q.sendMany([{ payload: "ok" }, { payload: "ok" }, { payload: "fail" }]);
    await q.send("later", { delay: "1h" });
    const cancelled = await q.send("cancel me", { delay: "1h" });
    await q.cancel(cancelled);
    assert.deepEqual(await q.stats(), {
      queued: 4,
      running: 0,
      completed: 0,
      failed: 0,
      cancelled: 1,
    });
    let done = 0;
    const worker = q.work(async (job) => {
      done++;
      if (job.payload === "fail") throw new Error("no");
      return job.payload;
    });
    // Each completion settles once its job's outcome is committed.
    const outcomes = await within(
      Promise.allSettled(ids.map((id) => q.completion(id))),
      5000,
      "three jobs done",
    );
    assert.deepEqual(
      outcomes.map((o) => (o.status === "fulfilled" ? o.value : o.reason.constructor)),
      ["ok", "ok", JobFailedError],
    );
    await worker.stop();
    assert.equal(done, 3);
    assert.deepEqual(await q.stats(), {
      queued: 1,
      running: 0,
      completed: 2,
      failed: 1,
      cancelled: 1,
    });
    assert.deepEqual(await client.queue("empty").stats(), {
      queued: 0,
      running: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
    });
  },
);

dbTest(
  "get returns state, attempts, timestamps, result and errors; null when unknown",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue<{ n: number }, { twice: number }>("g");
    const before = new Date(Date.now() - 1000);
    q.work(async (job) => ({ twice: job.payload.n * 2 }));
    const sent = q.send({ n: 4 }, { priority: 3, attributes: { kind: "demo" } });
    await sent.completed;
    const info = await q.get(await sent);
    assert.ok(info);
    assert.equal(info.queue, "g");
    assert.equal(info.state, "completed");
    assert.equal(info.priority, 3);
    assert.deepEqual(info.payload, { n: 4 });
    assert.deepEqual(info.attributes, { kind: "demo" });
    assert.deepEqual(info.result, { twice: 8 });
    assert.equal(info.attempt, 1);
    assert.equal(info.maxAttempts, 5, "the queue's default");
    assert.deepEqual(info.errors, []);
    assert.equal(info.lastError, null);
    assert.ok(
      info.createdAt >= before &&
        info.startedAt! >= info.createdAt &&
        info.finishedAt! >= info.startedAt!,
    );
    assert.match(info.leasedBy ?? "", /:\d+/);
    assert.equal(await q.get("0190a6f4-0000-7000-8000-000000000001"), null);
    assert.equal(await client.queue("other").get(info.id), null, "ids are scoped to their queue");
    await assert.rejects(q.get("nope"), ValidationError);
  },
);

dbTest("cancel takes an id or a list and says how many it cancelled", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue("c");
  const ids = await q.sendMany([1, 2, 3].map((payload) => ({ payload, options: { delay: "1h" } })));
  assert.equal(await q.cancel(ids[0]!), 1);
  assert.equal(await q.cancel([ids[0]!, ids[1]!, ids[2]!]), 2, "the first was already cancelled");
  assert.equal(await q.cancel([]), 0);
  await assert.rejects(q.cancel(["not-an-id"]), ValidationError);
  await assert.rejects(q.cancel({ filter: {} }), /would cancel every job/);
});

dbTest("retry requeues a failed job with a fresh set of attempts", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue<string>("r", { maxAttempts: 2, backoff: { delay: 0 } });
  let healed = false;
  q.work(async (job) => {
    if (!healed) throw new Error(`broken (attempt ${job.attempt})`);
    return `worked on attempt ${job.attempt}`;
  });
  const sent = q.send("x");
  const id = await sent;
  await assert.rejects(sent.completed, JobFailedError);
  healed = true;
  assert.equal(await q.retry(id), true);
  assert.equal(await within(q.completion(id), 5000, "the retried job"), "worked on attempt 1");
  const info = await q.get(id);
  assert.equal(info?.errors.length, 2, "earlier errors are kept");
  assert.equal(await q.retry(id), false, "a completed job is not retried");
});
