import assert from "node:assert/strict";
import { dbTest, signal, within } from "../helpers/db.js";
import { cli } from "./capture.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/;

dbTest(
  "pgwake send enqueues a job with its options and prints its id",
  async ({ url, schema, connect }) => {
    const env = { DATABASE_URL: url, PGWAKE_SCHEMA: schema };
    const client = await connect();
    await client.createQueue("emails");
    const sent = await cli(
      [
        "send",
        "emails",
        '{"to": "a@b.c"}',
        "--priority=-5",
        "--delay",
        "1h",
        "--key",
        "welcome:1",
        "--attributes",
        '{"region": "eu"}',
        "--max-attempts",
        "2",
      ],
      env,
    );
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(sent.stdout, UUID);
    const job = await client.job(sent.stdout);
    assert.equal(job?.queue, "emails");
    assert.deepEqual(job?.payload, { to: "a@b.c" });
    assert.deepEqual(job?.attributes, { region: "eu" });
    assert.equal(job?.priority, -5);
    assert.equal(job?.maxAttempts, 2);
    assert.ok(job!.runAt.getTime() > Date.now() + 50 * 60_000, "delayed by about an hour");
    // The same key while the job is unfinished: the same job.
    const again = await cli(["send", "emails", "{}", "--key", "welcome:1", "--json"], env);
    assert.deepEqual(JSON.parse(again.stdout), { id: sent.stdout });

    const missing = await cli(["send", "nope", "1"], env);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^pgwake: queue "nope" does not exist/);
    const badAttributes = await cli(["send", "emails", "1", "--attributes", "[1]"], env);
    assert.equal(badAttributes.code, 1);
    assert.match(
      badAttributes.stderr,
      /^pgwake: expected send options.attributes to be a flat object/,
    );
  },
);

dbTest(
  "pgwake send --wait prints the id, then the worker's result",
  async ({ url, schema, connect }) => {
    const env = { DATABASE_URL: url, PGWAKE_SCHEMA: schema };
    const client = await connect();
    const q = await client.createQueue<{ n: number }, { doubled: number }>("double");
    q.work(async (job) => ({ doubled: job.payload.n * 2 }));
    const result = await within(
      cli(["send", "double", '{"n": 21}', "--wait"], env),
      10_000,
      "send --wait",
    );
    assert.equal(result.code, 0, result.stderr);
    const [id, answer] = result.stdout.split("\n");
    assert.match(id!, UUID);
    assert.equal(answer, '{"doubled":42}');
    const json = await within(
      cli(["send", "double", '{"n": 1}', "--wait", "--json"], env),
      10_000,
      "send --wait --json",
    );
    const parsed = JSON.parse(json.stdout) as { id: string; result: unknown };
    assert.match(parsed.id, UUID);
    assert.deepEqual(parsed.result, { doubled: 2 });
  },
);

dbTest(
  "pgwake send --wait exits with 1 and says why when the job failed",
  async ({ url, schema, connect }) => {
    const env = { DATABASE_URL: url, PGWAKE_SCHEMA: schema };
    const client = await connect();
    const q = await client.createQueue("fails", { maxAttempts: 1 });
    q.work(async () => {
      throw new Error("the mail server said no");
    });
    const result = await within(cli(["send", "fails", "{}", "--wait"], env), 10_000, "send --wait");
    assert.equal(result.code, 1);
    const id = result.stdout;
    assert.match(id, UUID);
    assert.equal(
      result.stderr,
      `pgwake: job ${id} failed after 1 attempt: the mail server said no (see pgwake job ${id}; pgwake retry ${id} runs it again)`,
    );
  },
);

dbTest(
  "pgwake send --wait exits with 1 when the job is cancelled meanwhile",
  async ({ url, schema, connect }) => {
    const env = { DATABASE_URL: url, PGWAKE_SCHEMA: schema };
    const client = await connect();
    const q = await client.createQueue("slow");
    const started = signal<string>();
    q.work(async (job) => {
      started.resolve(job.id);
      await new Promise((resolve) => job.signal.addEventListener("abort", resolve));
      throw job.signal.reason;
    });
    const waiting = cli(["send", "slow", "{}", "--wait"], env);
    const id = await within(started.promise, 10_000, "the handler to start");
    const cancelled = await cli(["cancel", id], env);
    assert.deepEqual(cancelled, {
      code: 0,
      stderr: "",
      stdout: `cancelled job ${id} (queue "slow")`,
    });
    const result = await within(waiting, 10_000, "send --wait to end");
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `pgwake: job ${id} was cancelled (pgwake retry ${id} runs it again)`,
    );
  },
);

dbTest(
  "pgwake send --wait gives up after --timeout and leaves the job queued",
  async ({ url, schema, connect }) => {
    const env = { DATABASE_URL: url, PGWAKE_SCHEMA: schema };
    const client = await connect();
    await client.createQueue("idle");
    const result = await within(
      cli(["send", "idle", "{}", "--wait", "--timeout", "300ms"], env),
      10_000,
      "send --wait --timeout",
    );
    assert.equal(result.code, 1);
    const id = result.stdout;
    assert.match(result.stderr, new RegExp(`^pgwake: job ${id} has not finished within 300ms`));
    assert.equal((await client.job(id))?.state, "queued");
  },
);
