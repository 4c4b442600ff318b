import assert from "node:assert/strict";
import { JobCancelledError, JobFailedError, ValidationError } from "../../src/index.js";
import { startChild } from "../helpers/child.js";
import { dbTest, within } from "../helpers/db.js";

interface Ran {
  name: string;
  start: number;
  end: number;
  pid: number;
}

dbTest(
  "a diamond (A → B, A → C, B + C → D) runs in order across two worker processes",
  async ({ connect, url, schema, defer }) => {
    const client = await connect();
    const q = await client.createQueue<{ name: string; ms: number }, Ran>("dag");
    const workers = [1, 2].map(() =>
      startChild("dag-worker", { DATABASE_URL: url, PGWAKE_SCHEMA: schema, QUEUE: "dag" }),
    );
    for (const worker of workers) defer(() => worker.process.kill("SIGKILL"));
    await Promise.all(
      workers.map((w) => within(w.next("ready"), 20_000, "a worker process to start")),
    );

    // Sent in reverse, so nothing but the dependencies can make the order right. A waits long
    // enough for the four sends and the counts below on a loaded machine (100 ms was not).
    const a = await q.send({ name: "A", ms: 150 }, { delay: 1000 });
    const b = await q.send({ name: "B", ms: 100 }, { after: [a] });
    const c = await q.send({ name: "C", ms: 200 }, { after: [a] });
    const d = await q.send({ name: "D", ms: 10 }, { after: [b, c] });
    const stats = await q.stats();
    assert.equal(stats.queued + stats.running, 4, "waiting jobs count as queued");
    assert.equal(stats.queued >= 3, true, "B, C and D wait");
    assert.equal((await q.get(d))?.state, "queued");

    const [ra, rb, rc, rd] = await within(
      Promise.all([a, b, c, d].map((id) => q.completion(id))),
      20_000,
      "the diamond to finish",
    );
    assert.ok(rb!.start >= ra!.end && rc!.start >= ra!.end, "B and C start after A ended");
    assert.ok(rd!.start >= Math.max(rb!.end, rc!.end), "D starts after both B and C ended");
    assert.ok(rb!.start < rc!.end && rc!.start < rb!.end, "B and C ran at the same time");
  },
);

dbTest("a failing dependency cancels its dependents, transitively", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue<{ name: string; ms: number; fail?: boolean }>("broken", {
    maxAttempts: 1,
  });
  const a = await q.send({ name: "A", ms: 0, fail: true }, { delay: 100 });
  const b = q.send({ name: "B", ms: 0 }, { after: [a] });
  const c = q.send({ name: "C", ms: 0 }, { after: [await b] });
  const independent = q.send({ name: "X", ms: 0 });
  const ran: string[] = [];
  q.work(async (job) => {
    ran.push(job.payload.name);
    if (job.payload.fail) throw new Error("A fails");
  });
  await assert.rejects(within(q.completion(a), 5000, "A to fail"), JobFailedError);
  await assert.rejects(within(b.completed, 5000, "B to be cancelled"), JobCancelledError);
  await assert.rejects(within(c.completed, 5000, "C to be cancelled"), JobCancelledError);
  await within(independent.completed, 5000, "the independent job");
  assert.deepEqual(ran.sort(), ["A", "X"]);
  const info = await q.get(await c);
  assert.equal(info?.lastError?.name, "DependencyFailed");
});

dbTest(
  "dependencies that already finished: completed ones run it at once, failed ones cancel it",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue<string>("settled", { maxAttempts: 1 });
    q.work(async (job) => {
      if (job.payload === "bad") throw new Error("bad");
      return job.payload;
    });
    const good = q.send("good");
    await good.completed;
    const bad = q.send("bad");
    await assert.rejects(bad.completed, JobFailedError);
    assert.equal(
      await within(
        q.send("after good", { after: [await good] }).completed,
        5000,
        "the job after good",
      ),
      "after good",
    );
    const cancelled = q.send("after bad", { after: [await bad] });
    await assert.rejects(within(cancelled.completed, 5000, "the job after bad"), JobCancelledError);
  },
);

dbTest(
  "unknown dependencies are a ValidationError, and nothing is written",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("deps");
    const missing = "0190a6f4-0000-7000-8000-00000000beef";
    await assert.rejects(
      q.send("x", { after: [missing] }),
      (e: unknown) => e instanceof ValidationError && e.message.includes(missing),
    );
    const known = await q.send("known");
    await assert.rejects(
      q.sendMany([{ payload: 1 }, { payload: 2, options: { after: [known, missing] } }]),
      (e: unknown) => e instanceof ValidationError && /do not exist/.test(e.message),
    );
    const [row] = await admin.unsafe<Array<{ n: number }>>(
      `select count(*)::int as n from "${schema}"._jobs`,
    );
    assert.equal(row!.n, 1, "only the known job; the sendMany wrote nothing");
  },
);

dbTest("cancelling a job cancels the jobs waiting on it", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue("chain");
  const first = await q.send(1, { delay: "1h" });
  const second = q.send(2, { after: [first] });
  await second;
  assert.equal(await q.cancel(first), 1);
  await assert.rejects(
    within(second.completed, 5000, "the dependent's cancellation"),
    JobCancelledError,
  );
});

dbTest(
  "retrying a job sent with after waits again for its jobs, and is refused if one failed",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<string>("deps");
    const stateOf = async (id: string): Promise<string> =>
      (await admin.unsafe(`select state::text from "${schema}"._jobs where id = $1`, [id]))[0]!
        .state as string;
    const parent = await q.send("parent", { delay: "1h" });
    const child = await q.send("child", { after: [parent] });
    assert.equal(await q.cancel(child), 1);
    assert.equal(await q.retry(child), true);
    assert.equal(await stateOf(child), "waiting", "it waits for its parent again");
    // The parent completes: the retried child is released, as a first send would be.
    await admin.unsafe(
      `update "${schema}"._jobs set run_at = now(), state = 'queued' where id = $1`,
      [parent],
    );
    const ran: string[] = [];
    const worker = q.work((job) => void ran.push(job.payload));
    await within(q.completion(child), 5000, "the retried child");
    await worker.stop();
    assert.deepEqual(ran, ["parent", "child"]);

    // A parent that was cancelled: its dependent can never run, so it is not retried.
    const doomed = await q.send("doomed", { delay: "1h" });
    const orphan = await q.send("orphan", { after: [doomed] });
    assert.equal(await q.cancel(doomed), 1);
    assert.equal(await stateOf(orphan), "cancelled", "cancelled with its dependency");
    assert.equal(await q.retry(orphan), false);
    assert.equal(await stateOf(orphan), "cancelled");
  },
);
