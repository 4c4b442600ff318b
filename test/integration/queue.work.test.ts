import assert from "node:assert/strict";
import { AbortedError, JobCancelledError, JobFailedError, type Job } from "../../src/index.js";
import { dbTest, signal, within } from "../helpers/db.js";

dbTest("work runs at most `concurrency` handlers at once", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue<number>("c");
  let running = 0;
  let peak = 0;
  const gates: Array<() => void> = [];
  let arrived: (() => void) | undefined;
  q.work(
    async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise<void>((resolve) => {
        gates.push(resolve);
        arrived?.();
      });
      running--;
      return null;
    },
    { concurrency: 4, batch: 3 },
  );
  const completed = q.sendMany(Array.from({ length: 10 }, (_, i) => ({ payload: i }))).completed;
  for (let released = 0; released < 10; released++) {
    // Wait until a handler is parked, then check the bound and let the oldest one finish.
    while (gates.length === 0)
      await within(new Promise<void>((resolve) => (arrived = resolve)), 5000, "a handler to start");
    if (released === 0) {
      while (gates.length < 4)
        await within(new Promise<void>((resolve) => (arrived = resolve)), 5000, "four handlers");
      assert.equal((await q.stats()).running, 4);
    }
    assert.ok(running <= 4, `${running} handlers running`);
    gates.shift()!();
  }
  await within(completed, 5000, "all ten jobs");
  assert.equal(peak, 4);
  assert.deepEqual(await q.stats(), {
    queued: 0,
    running: 0,
    completed: 10,
    failed: 0,
    cancelled: 0,
  });
});

dbTest(
  "a throwing handler is retried with exponential backoff, then fails into the dead-letter queue",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("fragile", {
      maxAttempts: 3,
      backoff: { delay: 200, factor: 2, max: "1h" },
      deadLetter: "fragile-dead",
    });
    const startedAt: number[] = [];
    q.work(async (job) => {
      startedAt.push(Date.now());
      assert.equal(job.attempt, startedAt.length);
      throw new Error(`attempt ${job.attempt} failed`);
    });
    const sent = q.send({ order: 42 }, { attributes: { region: "eu" } });
    await assert.rejects(
      within(sent.completed, 10_000, "the job to fail"),
      (e: unknown) => e instanceof JobFailedError && e.attempts === 3,
    );
    // Retry n waits delay * factor^(n-1), ±20%: about 200 ms, then about 400 ms.
    const [gap1, gap2] = [startedAt[1]! - startedAt[0]!, startedAt[2]! - startedAt[1]!];
    assert.ok(gap1 >= 150 && gap1 < 1000, `first retry after ${gap1}ms, expected 160-240`);
    assert.ok(gap2 >= 310 && gap2 < 1500, `second retry after ${gap2}ms, expected 320-480`);
    const info = await q.get(await sent);
    assert.equal(info?.state, "failed");
    assert.deepEqual(
      info?.errors.map((e) => [e.attempt, e.message]),
      [
        [1, "attempt 1 failed"],
        [2, "attempt 2 failed"],
        [3, "attempt 3 failed"],
      ],
    );
    const dead = await admin.unsafe(
      `select payload, attributes, state::text from "${schema}"._jobs where queue = 'fragile-dead'`,
    );
    assert.deepEqual(
      dead.map((r) => ({ ...r })),
      [{ payload: { order: 42 }, attributes: { region: "eu" }, state: "queued" }],
    );
  },
);

dbTest(
  "nack with a delay overrides the backoff, and a job-level maxAttempts wins",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue<string>("n", { maxAttempts: 10, backoff: { delay: "1h" } });
    const attempts: number[] = [];
    const done = signal();
    void (async () => {
      for await (const job of q.receive()) {
        attempts.push(job.attempt);
        await job.nack(new Error("not yet"), { delay: 50 });
        if (job.attempt === 2) done.resolve();
      }
    })();
    const sent = q.send("x", { maxAttempts: 2 });
    await within(done.promise, 5000, "two attempts 50 ms apart despite a 1h backoff");
    await assert.rejects(
      within(sent.completed, 5000, "failure"),
      (e: unknown) => e instanceof JobFailedError && e.attempts === 2,
    );
    assert.deepEqual(attempts, [1, 2]);
  },
);

dbTest(
  "stop() stops claiming, aborts running handlers' signals and waits for them to settle",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue<number>("s");
    const started = signal<Job<number>>();
    const worker = q.work(
      async (job) => {
        started.resolve(job);
        await new Promise((resolve) =>
          job.signal.addEventListener("abort", resolve, { once: true }),
        );
        return { stoppedWith: (job.signal.reason as Error).name };
      },
      { concurrency: 1 },
    );
    const first = q.send(1);
    const second = q.send(2);
    const job = await within(started.promise, 5000, "the first job to start");
    assert.equal(job.payload, 1);
    await within(worker.stop(), 5000, "stop");
    assert.ok(job.signal.reason instanceof AbortedError);
    assert.deepEqual(
      await first.completed,
      { stoppedWith: "AbortedError" },
      "the running job finished and was acked",
    );
    assert.equal((await q.get(await second))?.state, "queued", "the next job was not started");
    assert.equal(worker.running, 0);
  },
);

dbTest(
  "a handler result that is not JSON fails the attempt with the reason",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue("bad-result", { maxAttempts: 1 });
    q.work(async () => ({ when: 10n }) as never);
    await assert.rejects(
      q.send(1).completed,
      (e: unknown) =>
        e instanceof JobFailedError && /result\.when is a BigInt/.test(e.error.message),
    );
  },
);

dbTest("a handler may settle the job itself", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue("self");
  q.work(async (job) => {
    await job.ack("by hand");
    return "ignored";
  });
  assert.equal(await within(q.send(1).completed, 5000, "completion"), "by hand");
});

dbTest(
  "with concurrency 1 a worker runs a deep queue's jobs in order, priorities first",
  async ({ connect }) => {
    // The order README's Guarantees promise, end to end: quick handlers make the worker claim
    // hundreds ahead and top them up while they run. (It rarely catches claims that overlap,
    // which needs a first claim slower than the second: test/unit/worker.test.ts pins that.)
    const client = await connect();
    const q = await client.createQueue<number>("fifo");
    const size = 5000;
    await q.sendMany(
      Array.from({ length: size }, (_, i) => ({
        payload: i,
        options: { priority: i % 100 === 0 ? 1 : 0 },
      })),
    );
    const order: number[] = [];
    const all = signal();
    const worker = q.work(
      (job) => {
        order.push(job.payload);
        if (order.length === size) all.resolve();
      },
      { concurrency: 1 },
    );
    await within(all.promise, 30_000, "every job to run");
    await worker.stop();
    const urgent = Array.from({ length: size / 100 }, (_, i) => i * 100);
    const rest = Array.from({ length: size }, (_, i) => i).filter((i) => i % 100 !== 0);
    assert.deepEqual(order, [...urgent, ...rest]);
  },
);

dbTest(
  "a worker does not run a job cancelled while it waited, claimed ahead",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue<string>("ahead");
    const ran: string[] = [];
    const aRunning = signal();
    const gate = signal();
    q.work(
      async (job) => {
        ran.push(job.payload);
        if (job.payload === "A") {
          aRunning.resolve();
          await gate.promise;
        }
        return null;
      },
      { concurrency: 1 },
    );
    // A first job teaches the worker its handler's pace, so that it claims ahead of its one slot.
    await within(q.send("W").completed, 5000, "W");
    const batch = q.sendMany([{ payload: "A" }, { payload: "B" }]);
    const [, b] = await batch;
    // Settles only from B's done notification, whose handling lets the held job go first.
    const outcome = batch.completed.then(
      () => "completed",
      (error: unknown) => error,
    );
    await within(aRunning.promise, 5000, "A's handler");
    assert.equal((await q.get(b!))?.state, "running", "B is claimed ahead of the busy handler");
    assert.equal(await q.cancel(b!), 1);
    assert.ok((await within(outcome, 5000, "B's cancellation")) instanceof JobCancelledError);
    gate.resolve();
    // With one slot, B would run before a job sent after it.
    await within(q.send("C").completed, 5000, "C");
    assert.deepEqual(ran, ["W", "A", "C"]);
  },
);
