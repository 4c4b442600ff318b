import assert from "node:assert/strict";
import postgres from "postgres";
import { dbTest, signal, within } from "../helpers/db.js";

dbTest(
  "concurrent sends with one key, from two clients, make one job and all get its id",
  async ({ connect, admin, schema }) => {
    const [a, b] = await Promise.all([connect(), connect()]);
    await a.createQueue<string>("welcome");
    const sends = [a, b].flatMap((client) =>
      Array.from({ length: 25 }, (_, i) =>
        client.queue<string>("welcome").send(`try ${i}`, { key: "welcome:42" }),
      ),
    );
    const ids = await Promise.all(sends);
    assert.equal(new Set(ids).size, 1, "every send got the same id");
    const rows = await admin.unsafe(`select id::text, payload from "${schema}"._jobs`);
    assert.equal(rows.length, 1, "one job");
    assert.equal(rows[0]!.id, ids[0]);
  },
);

dbTest("a duplicate send's completed settles with the original job", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue<string, string>("dedup");
  const first = q.send("original", { key: "k", delay: 200 });
  const second = q.send("duplicate", { key: "k" });
  assert.equal(await second, await first);
  q.work(async (job) => `ran ${job.payload}`);
  assert.equal(await within(second.completed, 5000, "the duplicate's completion"), "ran original");
  assert.equal(await first.completed, "ran original");
});

dbTest("once the job finished, its key is free again; keys are per queue", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue<string>("reuse");
  const other = await client.createQueue<string>("other");
  const done = signal();
  q.work(async () => done.resolve());
  const first = await q.send("one", { key: "k" });
  await within(done.promise, 5000, "the first job to finish");
  await within(q.completion(first), 5000, "its completion");
  const second = await q.send("two", { key: "k" });
  assert.notEqual(second, first, "a finished job does not hold its key");
  const elsewhere = await other.send("three", { key: "k" });
  assert.notEqual(elsewhere, second, "another queue's key is another key");
});

dbTest("sendMany with a key twice in one batch makes one job", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue<number>("batch");
  const ids = await q.sendMany([
    { payload: 1, options: { key: "x" } },
    { payload: 2, options: { key: "y" } },
    { payload: 3, options: { key: "x" } },
  ]);
  assert.equal(ids[0], ids[2]);
  assert.notEqual(ids[0], ids[1]);
  assert.deepEqual(await q.stats(), {
    queued: 2,
    running: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
  });
});

dbTest(
  "a batch's completed, read before its write returns, follows a duplicate to the job that holds its key",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue<number, string>("batch-completed");
    const batch = q.sendMany([
      { payload: 1, options: { key: "x" } },
      { payload: 2 },
      { payload: 3, options: { key: "x" } },
    ]);
    const completed = batch.completed; // registered while the insert is under way
    const ids = await batch;
    assert.equal(ids[0], ids[2]);
    q.work(async (job) => `ran ${job.payload}`);
    assert.deepEqual(await within(completed, 5000, "the batch's completion"), [
      "ran 1",
      "ran 2",
      "ran 1",
    ]);
  },
);

dbTest(
  "a batch's ids are the caller's to change: completed keeps to the jobs sent",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue<number, string>("batch-ids");
    const batch = q.sendMany([{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
    const ids = await batch;
    ids.reverse();
    q.work(async (job) => `ran ${job.payload}`);
    assert.deepEqual(await within(batch.completed, 5000, "the batch's completion"), [
      "ran 1",
      "ran 2",
      "ran 3",
    ]);
  },
);

for (const when of ["before", "after"] as const) {
  dbTest(
    `in a transaction, a key twice in one batch: completed read ${when} the write follows the uncommitted holder`,
    async ({ connect, url }) => {
      const client = await connect();
      const q = await client.createQueue<number, string>("tx-batch-dedup");
      const sql = postgres(url, { max: 1, onnotice: () => undefined });
      try {
        let completed: Promise<string[]> | undefined;
        await sql.begin(async (tx) => {
          const batch = q.sendMany(
            [
              { payload: 1, options: { key: "x" } },
              { payload: 2 },
              { payload: 3, options: { key: "x" } },
            ],
            { tx },
          );
          if (when === "before") completed = batch.completed;
          await batch;
          completed ??= batch.completed;
          // Held open a moment, so the completion's first read finds no committed row.
          await new Promise((resolve) => setTimeout(resolve, 300));
        });
        q.work(async (job) => `ran ${job.payload}`);
        assert.deepEqual(await within(completed!, 5000, "the batch's completion"), [
          "ran 1",
          "ran 2",
          "ran 1",
        ]);
      } finally {
        await sql.end();
      }
    },
  );
}

for (const how of ["send", "sendMany"] as const) {
  dbTest(
    `in a transaction, a ${how} deduplicated onto a job sent earlier in it follows that job`,
    async ({ connect, url }) => {
      const client = await connect();
      const q = await client.createQueue<number, string>("tx-send-dedup");
      const sql = postgres(url, { max: 1, onnotice: () => undefined });
      try {
        let completed: Promise<unknown> | undefined;
        await sql.begin(async (tx) => {
          const first = await q.send(1, { tx, key: "x" });
          const again =
            how === "send"
              ? q.send(2, { tx, key: "x" })
              : q.sendMany([{ payload: 2, options: { key: "x" } }], { tx });
          const ids = await again;
          assert.deepEqual(typeof ids === "string" ? [ids] : ids, [first]);
          completed = again.completed;
          // Held open a moment, so the completion's first read finds no committed row.
          await new Promise((resolve) => setTimeout(resolve, 300));
        });
        q.work(async (job) => `ran ${job.payload}`);
        assert.deepEqual(
          await within(completed!, 5000, "the duplicate's completion"),
          how === "send" ? "ran 1" : ["ran 1"],
        );
      } finally {
        await sql.end();
      }
    },
  );
}

dbTest(
  "a dedup key in a bounded queue that is full returns the holder, without waiting",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue<string>("full", { maxSize: 1 });
    const held = await q.send("occupant", { key: "only" });
    assert.equal(
      await within(q.send("again", { key: "only", timeout: 100 }), 2000, "the duplicate"),
      held,
    );
  },
);
