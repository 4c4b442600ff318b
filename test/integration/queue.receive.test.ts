import assert from "node:assert/strict";
import type postgres from "postgres";
import { AbortedError, type Job } from "../../src/index.js";
import { dbTest, within } from "../helpers/db.js";

async function states(
  admin: postgres.Sql,
  schema: string,
): Promise<Array<{ payload: number; state: string; attempt: number }>> {
  const rows = await admin.unsafe(
    `select (payload)::int as payload, state::text, attempt from "${schema}"._jobs order by payload`,
  );
  return rows.map((r) => ({
    payload: r.payload as number,
    state: r.state as string,
    attempt: r.attempt as number,
  }));
}

dbTest(
  "receive yields every job, batch at a time, and each ack completes it",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<number>("r");
    await q.sendMany(Array.from({ length: 25 }, (_, i) => ({ payload: i })));
    const seen: number[] = [];
    for await (const job of q.receive({ batch: 10 })) {
      assert.equal(job.queue, "r");
      assert.equal(job.attempt, 1);
      assert.deepEqual(job.attributes, {});
      assert.equal(job.signal.aborted, false);
      seen.push(job.payload);
      await job.ack();
      if (seen.length === 25) break;
    }
    assert.deepEqual(
      seen,
      Array.from({ length: 25 }, (_, i) => i),
      "FIFO order",
    );
    assert.ok((await states(admin, schema)).every((s) => s.state === "completed"));
  },
);

dbTest(
  "break: the unsettled job goes back counting its attempt, unyielded ones as they were",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<number>("r");
    await q.sendMany([0, 1, 2, 3, 4].map((payload) => ({ payload })));
    for await (const job of q.receive({ batch: 5 })) {
      await job.ack(); // 0 acked
      break;
    }
    for await (const job of q.receive({ batch: 5 })) {
      assert.equal(job.payload, 1);
      break; // 1 left unsettled: another attempt; 2, 3, 4 were claimed but never yielded
    }
    assert.deepEqual(await states(admin, schema), [
      { payload: 0, state: "completed", attempt: 1 },
      { payload: 1, state: "queued", attempt: 1 },
      { payload: 2, state: "queued", attempt: 0 },
      { payload: 3, state: "queued", attempt: 0 },
      { payload: 4, state: "queued", attempt: 0 },
    ]);
    const [again] = await collect(q.receive(), 1);
    assert.deepEqual(again, { payload: 1, attempt: 2 }, "the unsettled job keeps its place");
  },
);

dbTest(
  "a throw in the loop body returns the jobs just as break does",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<number>("r");
    await q.sendMany([0, 1, 2].map((payload) => ({ payload })));
    await assert.rejects(
      (async () => {
        for await (const job of q.receive({ batch: 3 })) {
          throw new Error(`handler failed on ${job.payload}`);
        }
      })(),
      /handler failed on 0/,
    );
    assert.deepEqual(await states(admin, schema), [
      { payload: 0, state: "queued", attempt: 1 },
      { payload: 1, state: "queued", attempt: 0 },
      { payload: 2, state: "queued", attempt: 0 },
    ]);
    const [job] = await admin.unsafe(
      `select errors->0->>'message' as m from "${schema}"._jobs where (payload)::int = 0`,
    );
    assert.match(String(job?.m), /receive loop ended without ack or nack/);
  },
);

dbTest(
  "moving on without settling sends the job back for another attempt",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<number>("r", { backoff: { delay: 0 } });
    await q.send(7);
    const attempts: number[] = [];
    for await (const job of q.receive()) {
      attempts.push(job.attempt);
      if (job.attempt === 3) {
        await job.ack("finally");
        break;
      }
      // not settled: the next iteration puts it back, and it comes round again
    }
    assert.deepEqual(attempts, [1, 2, 3]);
    assert.deepEqual(await states(admin, schema), [{ payload: 7, state: "completed", attempt: 3 }]);
  },
);

dbTest(
  "aborting the signal ends a waiting loop, and the job in hand sees its signal abort",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<number>("r");
    const controller = new AbortController();
    let inHand: Job<number> | undefined;
    const loop = (async () => {
      const got: number[] = [];
      for await (const job of q.receive({ signal: controller.signal, batch: 2 })) {
        got.push(job.payload);
        inHand = job;
        controller.abort();
        assert.ok(job.signal.aborted);
        assert.ok(job.signal.reason instanceof AbortedError);
      }
      return got;
    })();
    await q.sendMany([{ payload: 1 }, { payload: 2 }]);
    assert.deepEqual(await within(loop, 5000, "the loop to end"), [1]);
    assert.equal(inHand?.payload, 1);
    assert.deepEqual(await states(admin, schema), [
      { payload: 1, state: "queued", attempt: 1 },
      { payload: 2, state: "queued", attempt: 0 },
    ]);
    // An already-aborted signal yields nothing at all.
    const none = await collect(q.receive({ signal: AbortSignal.abort() }), 1);
    assert.deepEqual(none, []);
  },
);

dbTest("higher priority runs first, FIFO within a priority", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue<string>("p");
  const sent = [
    ["low-1", 0],
    ["high-1", 10],
    ["mid", 5],
    ["high-2", 10],
    ["low-2", 0],
    ["negative", -3],
  ] as const;
  for (const [payload, priority] of sent) await q.send(payload, { priority });
  const jobs = await collect(q.receive({ batch: 3 }), 6);
  assert.deepEqual(
    jobs.map((j) => j.payload),
    ["high-1", "high-2", "mid", "low-1", "low-2", "negative"],
  );
});

dbTest(
  "a delayed job wakes a waiting consumer at its due time, with no polling",
  async ({ connect }) => {
    const client = await connect({ pollInterval: false });
    const q = await client.createQueue<string>("later");
    const started = Date.now();
    const first = collect(q.receive(), 2);
    await q.send("runAt", { runAt: new Date(Date.now() + 1200) });
    await q.send("delay", { delay: 600 });
    const jobs = await within(first, 5000, "delayed jobs");
    const elapsed = Date.now() - started;
    assert.deepEqual(
      jobs.map((j) => j.payload),
      ["delay", "runAt"],
    );
    assert.ok(elapsed >= 1150, `ran after ${elapsed}ms, before its time`);
    assert.ok(elapsed < 2500, `ran after ${elapsed}ms, far after its time`);
  },
);

dbTest(
  "receiving from a queue that does not exist yet waits until it does",
  async ({ connect }) => {
    const consumer = await connect();
    const producer = await connect();
    const got = collect(consumer.queue<string>("not-yet").receive(), 1);
    const q = await producer.createQueue<string>("not-yet");
    await q.send("here now");
    const [job] = await within(got, 5000, "the first job of a new queue");
    assert.equal(job?.payload, "here now");
  },
);

/** Takes and acks `count` jobs from a receive loop (or fewer, if the loop ends). */
async function collect<P>(
  jobs: AsyncGenerator<Job<P>>,
  count: number,
): Promise<Array<{ payload: P; attempt: number }>> {
  const out: Array<{ payload: P; attempt: number }> = [];
  for await (const job of jobs) {
    out.push({ payload: job.payload, attempt: job.attempt });
    await job.ack();
    if (out.length === count) break;
  }
  return out;
}
