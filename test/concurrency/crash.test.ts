import assert from "node:assert/strict";
import { LeaseLostError } from "../../src/index.js";
import { startChild } from "../helpers/child.js";
import { dbTest, signal, within } from "../helpers/db.js";

dbTest(
  "a consumer killed with SIGKILL mid-job: the job is redelivered with attempt 2",
  async ({ connect, url, schema, defer }) => {
    const client = await connect();
    const q = await client.createQueue<string>("crash", { leaseTime: 1000 });
    const child = startChild("consumer", {
      DATABASE_URL: url,
      PGWAKE_SCHEMA: schema,
      QUEUE: "crash",
    });
    defer(() => child.process.kill("SIGKILL"));
    await within(child.next("ready"), 20_000, "the child to connect");
    const sent = q.send("survive me");
    const holding = await within(child.next("holding"), 10_000, "the child to take the job");
    assert.equal(holding.id, await sent);
    assert.equal(holding.attempt, 1);
    child.process.kill("SIGKILL");
    await child.exited;
    const redelivered = signal<number>();
    q.work(async (job) => {
      redelivered.resolve(job.attempt);
      return "done here";
    });
    assert.equal(await within(redelivered.promise, 10_000, "redelivery after the lease"), 2);
    assert.equal(await within(sent.completed, 5000, "completion"), "done here");
  },
);

dbTest(
  "a consumer frozen with SIGSTOP past its lease: the job is done elsewhere, and its late ack is fenced",
  async ({ connect, url, schema, defer, admin }) => {
    const client = await connect();
    const q = await client.createQueue<string>("frozen", { leaseTime: 1000 });
    const child = startChild("consumer", {
      DATABASE_URL: url,
      PGWAKE_SCHEMA: schema,
      QUEUE: "frozen",
    });
    defer(() => child.process.kill("SIGKILL"));
    await within(child.next("ready"), 20_000, "the child to connect");
    const sent = q.send("contested");
    const id = await sent;
    await within(child.next("holding"), 10_000, "the child to take the job");
    child.process.kill("SIGSTOP");
    let runs = 0;
    const worker = q.work(async (job) => {
      runs++;
      assert.equal(job.attempt, 2);
      return { by: "parent" };
    });
    assert.deepEqual(await within(sent.completed, 10_000, "completion elsewhere"), {
      by: "parent",
    });
    await worker.stop();
    child.process.kill("SIGCONT");
    child.send("ack");
    const outcome = await within(child.next("ack-failed"), 10_000, "the child's late ack");
    assert.equal(outcome.error, LeaseLostError.name);
    assert.equal(await child.exited, 0);
    assert.equal(runs, 1);
    const [row] = await admin.unsafe(
      `select state::text, result, attempt from "${schema}"._jobs where id = $1`,
      [id],
    );
    assert.deepEqual(
      { ...row },
      { state: "completed", result: { by: "parent" }, attempt: 2 },
      "completed once, by the parent",
    );
  },
);
