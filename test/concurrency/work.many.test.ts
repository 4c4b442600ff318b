import assert from "node:assert/strict";
import { dbTest, within } from "../helpers/db.js";

dbTest(
  "5,000 jobs, 3 clients x concurrency 8: every job acked once, none lost, none run twice",
  async ({ connect, admin, schema }) => {
    const producer = await connect();
    const q = await producer.createQueue<number, number>("many");
    const runs = new Map<number, number>();
    const clients = await Promise.all([connect(), connect(), connect()]);
    for (const client of clients) {
      client.queue<number, number>("many").work(
        async (job) => {
          runs.set(job.payload, (runs.get(job.payload) ?? 0) + 1);
          if (job.payload % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
          return job.payload;
        },
        { concurrency: 8, batch: 4 },
      );
    }
    const total = 5000;
    const batches = [];
    for (let start = 0; start < total; start += 1000) {
      batches.push(q.sendMany(Array.from({ length: 1000 }, (_, i) => ({ payload: start + i }))));
    }
    const results = await within(
      Promise.all(batches.map((b) => b.completed)),
      60_000,
      "5,000 completions",
    );
    assert.deepEqual(
      results.flat(),
      Array.from({ length: total }, (_, i) => i),
      "every result, in order",
    );
    assert.equal(runs.size, total, "every job ran");
    assert.deepEqual(
      [...runs.values()].filter((n) => n !== 1),
      [],
      "no job ran twice",
    );
    const [row] = await admin.unsafe(
      `select count(*)::int as n, count(*) filter (where state = 'completed' and attempt = 1)::int as once from "${schema}"._jobs`,
    );
    assert.deepEqual({ ...row }, { n: total, once: total });
  },
  { timeout: 120_000 },
);
