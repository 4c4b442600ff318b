import assert from "node:assert/strict";
import {
  JobCancelledError,
  JobFailedError,
  JobNotFoundError,
  ValidationError,
} from "../../src/index.js";
import { dbTest, signal, within } from "../helpers/db.js";

dbTest("completed resolves with the worker's result", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue<{ n: number }, { square: number }>("math");
  q.work(async (job) => ({ square: job.payload.n ** 2 }), { concurrency: 4 });
  const results = await within(
    Promise.all([1, 2, 3, 4, 5].map((n) => q.send({ n }).completed)),
    5000,
    "five completions",
  );
  assert.deepEqual(
    results.map((r) => r.square),
    [1, 4, 9, 16, 25],
  );
});

dbTest(
  "completed rejects with JobFailedError carrying attempts and the last error",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue("flaky", { maxAttempts: 2, backoff: { delay: 0 } });
    q.work(async (job) => {
      const error = new Error(`boom on attempt ${job.attempt}`) as Error & { code: string };
      error.code = "E_BOOM";
      throw error;
    });
    const sent = q.send("x");
    const id = await sent;
    await assert.rejects(within(sent.completed, 5000, "failure"), (e: unknown) => {
      assert.ok(e instanceof JobFailedError);
      assert.equal(e.jobId, id);
      assert.equal(e.attempts, 2);
      assert.equal(e.error.message, "boom on attempt 2");
      assert.equal(e.error.name, "Error");
      assert.equal(e.error.code, "E_BOOM");
      assert.match(String(e.error.stack), /boom on attempt 2/);
      assert.match(e.message, /failed after 2 attempts: boom on attempt 2/);
      return true;
    });
  },
);

dbTest(
  "completed rejects with JobCancelledError when the job is cancelled",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue("c");
    const sent = q.send("never runs", { delay: "1h" });
    const completed = sent.completed;
    assert.equal(await sent.cancel(), true);
    await assert.rejects(within(completed, 5000, "cancellation"), JobCancelledError);
    assert.equal(await sent.cancel(), false, "cancelling twice changes nothing");
  },
);

dbTest("a job that finished before anyone asked still settles at once", async ({ connect }) => {
  const producer = await connect();
  const q = await producer.createQueue("late");
  const done = signal<string>();
  q.work(async (job) => {
    setImmediate(() => done.resolve(job.id));
    return "early";
  });
  const sent = q.send(1);
  const id = await sent;
  assert.equal(await within(done.promise, 5000, "the job to run"), id);
  // Only now does anyone look: from this handle, from this client by id, and from another client.
  assert.equal(await within(sent.completed, 5000, "late completed"), "early");
  assert.equal(await within(q.completion(id), 5000, "completion(id)"), "early");
  const other = await connect();
  assert.equal(
    await within(other.queue("late").completion(id), 5000, "completion(id) in another client"),
    "early",
  );
});

dbTest("completion(id) from another client is woken by the job finishing", async ({ connect }) => {
  const producer = await connect();
  const watcher = await connect();
  const q = await producer.createQueue("remote");
  const id = await q.send("hello");
  const remote = watcher.queue("remote").completion(id);
  const consumer = await connect();
  consumer.queue("remote").work(async (job) => `${String(job.payload)} world`);
  assert.equal(await within(remote, 5000, "remote completion"), "hello world");
});

dbTest("completion of an unknown or malformed id rejects clearly", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue("q");
  await assert.rejects(q.completion("0190a6f4-0000-7000-8000-000000000001"), JobNotFoundError);
  await assert.rejects(q.completion("not-an-id"), ValidationError);
});

dbTest("a completed nobody reads never becomes an unhandled rejection", async ({ connect }) => {
  const unhandled: unknown[] = [];
  const record = (reason: unknown): void => void unhandled.push(reason);
  process.on("unhandledRejection", record);
  try {
    const client = await connect();
    const q = await client.createQueue("ignored", { maxAttempts: 1 });
    const failures = signal();
    let failed = 0;
    q.work(async () => {
      if (++failed === 3) setImmediate(() => failures.resolve());
      throw new Error("fails");
    });
    const a = q.send(1); // completed never touched
    const b = q.send(2);
    void b.completed; // touched, never awaited
    const c = q.send(3, { delay: "1h" });
    void c.completed;
    await Promise.all([a, b, c]);
    await q.send(4); // fails too, its handle dropped at once
    await within(failures.promise, 5000, "three failures");
    await c.cancel();
    // Unhandled rejections are reported once the microtask queue drains: two turns are plenty.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(unhandled, []);
  } finally {
    process.off("unhandledRejection", record);
  }
});
