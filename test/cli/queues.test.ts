import assert from "node:assert/strict";
import { dbTest } from "../helpers/db.js";
import { cli } from "./capture.js";

dbTest(
  "pgwake create-queue creates, then updates, a queue and prints its options",
  async ({ url, schema, connect }) => {
    const env = { DATABASE_URL: url, PGWAKE_SCHEMA: schema };
    assert.equal((await cli(["migrate"], env)).code, 0);
    const created = await cli(
      [
        "create-queue",
        "emails",
        "--max-attempts",
        "3",
        "--lease-time",
        "1m",
        "--max-size",
        "100",
        "--dead-letter",
        "emails-dead",
        "--retention",
        "2d",
        "--backoff-delay",
        "500ms",
        "--backoff-factor",
        "1.5",
        "--backoff-max",
        "10m",
      ],
      env,
    );
    assert.deepEqual(created, {
      code: 0,
      stderr: "",
      stdout: [
        'created queue "emails"',
        "max attempts  3",
        "lease time    1m",
        "backoff       500ms, ×1.5 per retry, at most 10m",
        "max size      100",
        "dead letter   emails-dead",
        "retention     2d",
      ].join("\n"),
    });
    const client = await connect();
    const info = await client.queueInfo("emails");
    assert.equal(info?.backoffFactor, 1.5);
    assert.equal(info?.leaseMs, 60_000);
    // Declarative, as createQueue: what is left out goes back to its default.
    const updated = await cli(["create-queue", "emails", "--max-attempts", "7"], env);
    assert.equal(updated.code, 0);
    assert.match(updated.stdout, /^updated queue "emails"\nmax attempts {2}7\nlease time {4}30s\n/);
    assert.match(updated.stdout, /max size {6}none\ndead letter {3}none\nretention {5}7d$/);

    const bad = await cli(["create-queue", "no spaces"], env);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^pgwake: expected queue name to be 1-128 characters/);
  },
);

dbTest(
  "pgwake queues lists queues with counts and options, as a table or JSON",
  async ({ url, schema, connect }) => {
    const env = { DATABASE_URL: url };
    const client = await connect();
    const empty = await cli(["queues", "--schema", schema], env);
    assert.deepEqual(empty, {
      code: 0,
      stderr: "",
      stdout: `no queues in schema "${schema}" yet: create one with pgwake create-queue NAME`,
    });
    const emails = await client.createQueue("emails", { maxSize: 10, deadLetter: "dead" });
    await emails.send({ to: "a" });
    await emails.send({ to: "b" }, { delay: "1h" });
    const table = await cli(["queues", "--schema", schema], env);
    assert.equal(table.code, 0);
    assert.deepEqual(table.stdout.split("\n"), [
      "QUEUE   QUEUED  RUNNING  COMPLETED  FAILED  CANCELLED  ATTEMPTS  LEASE  BACKOFF      MAX SIZE  DEAD LETTER  RETENTION",
      "dead         0        0          0       0          0         5    30s  1s×2 max 1h         -  -                   7d",
      "emails       2        0          0       0          0         5    30s  1s×2 max 1h        10  dead                7d",
    ]);
    const json = await cli(["queues", "--json", "--schema", schema], env);
    assert.equal(json.code, 0);
    const { queues } = JSON.parse(json.stdout) as { queues: Array<Record<string, unknown>> };
    assert.deepEqual(
      queues.map((q) => q.name),
      ["dead", "emails"],
    );
    assert.deepEqual(queues[1], {
      name: "emails",
      maxAttempts: 5,
      backoff: { delay: 1000, factor: 2, max: 3_600_000 },
      leaseTime: 30_000,
      maxSize: 10,
      deadLetter: "dead",
      retention: 604_800_000,
      counts: { queued: 2, running: 0, completed: 0, failed: 0, cancelled: 0 },
      delayed: 1,
      waiting: 0,
      createdAt: queues[1]!.createdAt,
      updatedAt: queues[1]!.updatedAt,
    });
  },
);

dbTest(
  "pgwake stats counts jobs by queue and state, with a total",
  async ({ url, schema, connect }) => {
    const env = { DATABASE_URL: url, PGWAKE_SCHEMA: schema };
    const client = await connect();
    const a = await client.createQueue("a");
    await client.createQueue("b");
    const first = await a.send(1);
    await a.send(2, { delay: "1h" });
    await a.send(3, { after: [first] });
    await a.cancel(first); // cancels the job waiting on it too
    await a.send(4);
    const stats = await cli(["stats"], env);
    assert.deepEqual(stats, {
      code: 0,
      stderr: "",
      stdout: [
        "QUEUE  QUEUED  DELAYED  WAITING  RUNNING  COMPLETED  FAILED  CANCELLED",
        "a           2        1        0        0          0       0          2",
        "b           0        0        0        0          0       0          0",
        "total       2        1        0        0          0       0          2",
      ].join("\n"),
    });
    const one = await cli(["stats", "--queue", "a", "--json"], env);
    assert.deepEqual(JSON.parse(one.stdout), {
      queues: {
        a: { queued: 2, delayed: 1, waiting: 0, running: 0, completed: 0, failed: 0, cancelled: 2 },
      },
      total: {
        queued: 2,
        delayed: 1,
        waiting: 0,
        running: 0,
        completed: 0,
        failed: 0,
        cancelled: 2,
      },
    });
    const missing = await cli(["stats", "--queue", "nope"], env);
    assert.equal(missing.code, 1);
    assert.equal(
      missing.stderr,
      `pgwake: queue "nope" does not exist in schema "${schema}": pgwake queues lists them`,
    );
  },
);

dbTest(
  "commands that operate a schema refuse one that is not set up, and say to migrate",
  async ({ url, schema }) => {
    const result = await cli(["jobs"], { DATABASE_URL: url, PGWAKE_SCHEMA: schema });
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `pgwake: schema "${schema}" has no pgwake tables: set it up with pgwake migrate, or check --schema (or PGWAKE_SCHEMA) and --url`,
    );
  },
);
