import assert from "node:assert/strict";
import { once } from "node:events";
import {
  AbortedError,
  JobCancelledError,
  JobFailedError,
  LeaseLostError,
  type Job,
} from "../../src/index.js";
import { dbTest, signal, within } from "../helpers/db.js";

/** The first job of a receive loop, held unsettled; the loop stays open until `release`. */
async function holdOne<P>(
  jobs: AsyncGenerator<Job<P>>,
): Promise<{ job: Job<P>; release: () => Promise<void> }> {
  const first = await jobs.next();
  assert.ok(!first.done);
  return { job: first.value, release: async () => void (await jobs.return(undefined)) };
}

dbTest(
  "heartbeats keep a long job's lease: it runs once, though it outlives the lease three times",
  async ({ connect }) => {
    const a = await connect();
    const b = await connect();
    const q = await a.createQueue<string>("long", { leaseTime: 600 });
    let runs = 0;
    const handler = async (job: Job<string>): Promise<number> => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 2000)); // the work itself takes this long
      return job.attempt;
    };
    q.work(handler);
    b.queue<string>("long").work(handler);
    assert.equal(
      await within(q.send("slow").completed, 10_000, "the long job"),
      1,
      "first attempt, never redelivered",
    );
    assert.equal(runs, 1);
  },
);

dbTest(
  "an ack after the lease moved on is fenced off with LeaseLostError",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<string>("fenced");
    const id = await q.send("x");
    const { job, release } = await holdOne(q.receive());
    // Another consumer took the job over (what a rescue and redelivery do to the row).
    await admin.unsafe(
      `update "${schema}"._jobs set lease_token = gen_random_uuid() where id = $1`,
      [id],
    );
    await assert.rejects(
      job.ack("stale"),
      (e: unknown) => e instanceof LeaseLostError && e.jobId === id,
    );
    assert.ok(job.signal.aborted);
    const [row] = await admin.unsafe(
      `select state::text, result from "${schema}"._jobs where id = $1`,
      [id],
    );
    assert.deepEqual(
      { ...row },
      { state: "running", result: null },
      "the stale ack changed nothing",
    );
    await release();
  },
);

dbTest(
  "a heartbeat that finds the lease gone aborts the job's signal",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<string>("lost", { leaseTime: 600 });
    const id = await q.send("x");
    const { job, release } = await holdOne(q.receive());
    await admin.unsafe(
      `update "${schema}"._jobs set lease_token = gen_random_uuid() where id = $1`,
      [id],
    );
    await within(once(job.signal, "abort"), 5000, "the next heartbeat to notice");
    assert.ok(job.signal.reason instanceof LeaseLostError);
    await release();
  },
);

dbTest(
  "cancelling a running job aborts its signal in the consumer's process, and its ack is fenced",
  async ({ connect }) => {
    const worker = await connect();
    const operator = await connect();
    const errors: Error[] = [];
    worker.on("error", (e) => errors.push(e));
    const q = await worker.createQueue<string>("cancel-running");
    const started = signal<Job<string>>();
    const finished = signal<unknown>();
    q.work(async (job) => {
      started.resolve(job);
      await once(job.signal, "abort");
      finished.resolve(job.signal.reason);
      return "too late";
    });
    const sent = q.send("x");
    const completed = sent.completed;
    const job = await within(started.promise, 5000, "the job to start");
    assert.equal(await operator.queue("cancel-running").cancel(await sent), 1);
    assert.ok(
      (await within(finished.promise, 5000, "the handler to see the cancellation")) instanceof
        JobCancelledError,
    );
    await assert.rejects(completed, JobCancelledError);
    assert.equal((await operator.queue("cancel-running").get(job.id))?.state, "cancelled");
    await worker.close();
    assert.deepEqual(errors, [], "a cancelled job's fenced ack is expected, not an error");
  },
);

dbTest(
  "a job cancelled while its worker stops: its fenced ack is still expected, not an error",
  async ({ connect }) => {
    const client = await connect();
    const errors: Error[] = [];
    client.on("error", (e) => errors.push(e));
    const q = await client.createQueue<string>("cancel-stopping");
    const started = signal<Job<string>>();
    const gate = signal();
    const worker = q.work(async (job) => {
      started.resolve(job);
      await gate.promise;
      return "too late";
    });
    const sent = q.send("x");
    // Registered before the write: settles only from the job's done notification.
    const completed = sent.completed.then(
      () => "completed",
      (error: unknown) => error,
    );
    const job = await within(started.promise, 5000, "the job to start");
    const stopped = worker.stop();
    assert.ok(job.signal.reason instanceof AbortedError, "the stop aborts first");
    assert.equal(await q.cancel(await sent), 1);
    assert.ok((await within(completed, 5000, "the cancellation")) instanceof JobCancelledError);
    gate.resolve();
    await within(stopped, 5000, "the worker to stop");
    assert.equal((await q.get(job.id))?.state, "cancelled");
    assert.deepEqual(errors, [], "the ack finds the lease gone, as a cancelled job's does");
  },
);

dbTest(
  "a job whose consumer vanished comes back after its lease, with attempt 2",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<string>("rescue", { leaseTime: 400 });
    const id = await q.send("orphan");
    // A consumer claims it and dies: its lease is never extended.
    await admin.unsafe(
      `update "${schema}"._jobs set state = 'running', attempt = 1, lease_token = gen_random_uuid(),
       lease_expires_at = now() + interval '400 milliseconds', leased_by = 'dead-host:1' where id = $1`,
      [id],
    );
    const attempt = signal<number>();
    const started = Date.now();
    q.work(async (job) => {
      attempt.resolve(job.attempt);
      return "rescued";
    });
    assert.equal(await within(attempt.promise, 5000, "the rescue"), 2);
    assert.ok(Date.now() - started >= 300, "not before the lease expired");
    assert.equal(await within(q.completion(id), 5000, "completion"), "rescued");
    const info = await q.get(id);
    assert.match(
      info?.errors[0]?.message ?? "",
      /lease on attempt 1 expired: its consumer \(dead-host:1\) stopped heartbeating/,
    );
  },
);

dbTest(
  "a lease that expires on the last attempt fails the job",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<string>("rescue-last", { leaseTime: 300, maxAttempts: 1 });
    const sent = q.send("orphan");
    const id = await sent;
    await admin.unsafe(
      `update "${schema}"._jobs set state = 'running', attempt = 1, lease_token = gen_random_uuid(),
       lease_expires_at = now() + interval '300 milliseconds' where id = $1`,
      [id],
    );
    q.work(async () => assert.fail("a job out of attempts must not run again"));
    await assert.rejects(
      within(sent.completed, 5000, "the failure"),
      (e: unknown) =>
        e instanceof JobFailedError &&
        /LeaseExpired|lease on attempt 1 expired/.test(`${e.error.name} ${e.error.message}`),
    );
  },
);

dbTest(
  "one heartbeat statement per beat for all the jobs a process holds, not one per job",
  async ({ pool, connect }) => {
    const { sql, statements } = pool();
    const client = await connect({ sql: sql as never });
    const q = await client.createQueue<number>("beats", { leaseTime: 600 });
    const held = new Set<number>();
    const allHeld = signal();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    q.work(
      async (job) => {
        held.add(job.payload);
        if (held.size === 8) allHeld.resolve();
        await gate;
      },
      { concurrency: 8, batch: 8 },
    );
    const heartbeats = () => statements.filter((s) => s.includes("per process per beat")).length;
    let beats: number;
    try {
      await q.sendMany(Array.from({ length: 8 }, (_, i) => ({ payload: i })));
      await within(allHeld.promise, 5000, "eight jobs held");
      const before = heartbeats();
      await new Promise((resolve) => setTimeout(resolve, 1000)); // five beats of a 600 ms lease
      beats = heartbeats() - before;
    } finally {
      release(); // a handler left waiting would hold the test's client open
    }
    assert.ok(
      // About five beats of one statement each; one per job would be forty.
      beats >= 1 && beats <= 8,
      `${beats} heartbeat statements in 1 s for 8 jobs (one per beat expected)`,
    );
  },
);
