import assert from "node:assert/strict";
import { dbTest, signal, within } from "../helpers/db.js";
import { cli } from "./capture.js";

dbTest(
  "pgwake jobs lists jobs newest first, a page at a time, as a table or JSON",
  async ({ url, schema, connect }) => {
    const env = { DATABASE_URL: url, PGWAKE_SCHEMA: schema };
    const client = await connect();
    const q = await client.createQueue("pages");
    const other = await client.createQueue("other");
    const ids = [
      await q.send({ n: 1 }),
      await q.send({ n: 2 }),
      await q.send({ n: 3 }, { priority: 7 }),
    ];
    await other.send("elsewhere");

    const first = await cli(["jobs", "--queue", "pages", "--limit", "2"], env);
    assert.equal(first.code, 0, first.stderr);
    const lines = first.stdout.split("\n");
    assert.match(
      lines[0]!,
      /^ID {36}QUEUE {2}STATE {3}ATTEMPT {2}PRIORITY {2}CREATED {15}PAYLOAD$/,
    );
    assert.match(
      lines[1]!,
      new RegExp(
        `^${ids[2]}  pages  queued  0/5 {13}7  \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ  \\{"n":3\\}$`,
      ),
    );
    assert.match(lines[2]!, new RegExp(`^${ids[1]}  pages  queued  0/5 {13}0  `));
    assert.equal(lines[3], `next page: --cursor ${ids[1]}`);
    assert.equal(lines.length, 4);

    const second = await cli(
      ["jobs", "--queue", "pages", "--limit", "2", "--cursor", ids[1]!, "--json"],
      env,
    );
    const page = JSON.parse(second.stdout) as {
      jobs: Array<{ id: string; payload: unknown }>;
      nextCursor: unknown;
    };
    assert.deepEqual(
      page.jobs.map((job) => [job.id, job.payload]),
      [[ids[0], { n: 1 }]],
    );
    assert.equal(page.nextCursor, null);

    await q.cancel(ids[0]!);
    const cancelled = await cli(["jobs", "--state", "cancelled", "--json"], env);
    assert.deepEqual(
      (JSON.parse(cancelled.stdout) as { jobs: Array<{ id: string }> }).jobs.map((job) => job.id),
      [ids[0]],
    );
    assert.equal((await cli(["jobs", "--state", "failed"], env)).stdout, "no jobs");
  },
);

dbTest("pgwake job shows one job; an unknown id exits with 1", async ({ url, schema, connect }) => {
  const env = { DATABASE_URL: url, PGWAKE_SCHEMA: schema };
  const client = await connect();
  const q = await client.createQueue("show", { maxAttempts: 1 });
  const done = signal();
  q.work(async (job) => {
    if ((job.payload as { fail?: boolean }).fail) throw new TypeError("bad input");
    done.resolve();
    return { ok: true };
  });
  const ok = q.send({ to: "a" }, { attributes: { region: "eu" } });
  await within(ok.completed, 10_000, "the job to complete");
  const id = await ok;
  const shown = await cli(["job", id], env);
  assert.equal(shown.code, 0, shown.stderr);
  const fields = Object.fromEntries(
    shown.stdout.split("\n").map((line) => [line.slice(0, 15).trim(), line.slice(15)]),
  );
  assert.equal(fields.id, id);
  assert.equal(fields.queue, "show");
  assert.equal(fields.state, "completed");
  assert.equal(fields.attempt, "1 of 1");
  assert.equal(fields.attributes, '{"region":"eu"}');
  assert.equal(fields.payload, '{"to":"a"}');
  assert.equal(fields.result, '{"ok":true}');
  assert.match(fields["leased by"]!, /:/);

  const failed = q.send({ fail: true });
  await within(
    failed.completed.catch(() => undefined),
    10_000,
    "the job to fail",
  );
  const failedShown = await cli(["job", await failed], env);
  assert.match(failedShown.stdout, /\nstate {10}failed\n/);
  assert.match(failedShown.stdout, /\nresult {9}-\nerror 1 {8}TypeError: bad input$/);

  const json = await cli(["job", id, "--json"], env);
  const { job } = JSON.parse(json.stdout) as { job: Record<string, unknown> };
  assert.equal(job.id, id);
  assert.deepEqual(job.result, { ok: true });
  assert.equal(typeof job.finishedAt, "string");

  const unknown = "01a00000-0000-7000-8000-000000000000";
  for (const command of ["job", "cancel", "retry"]) {
    const result = await cli([command, unknown], env);
    assert.equal(result.code, 1, command);
    assert.equal(
      result.stderr,
      `pgwake: no job has the id ${unknown} in schema "${schema}": it never existed there, or retention deleted it (check --schema and --url)`,
    );
  }
});

dbTest(
  "pgwake cancel and retry act on the job's own queue, and say when they cannot",
  async ({ url, schema, connect }) => {
    const env = { DATABASE_URL: url, PGWAKE_SCHEMA: schema };
    const client = await connect();
    const q = await client.createQueue("ops");
    const id = await q.send(1);

    const notYet = await cli(["retry", id], env);
    assert.deepEqual(notYet, {
      code: 1,
      stdout: "",
      stderr: `pgwake: job ${id} was not retried: it is queued, and only failed and cancelled jobs can be retried`,
    });
    assert.deepEqual(await cli(["cancel", id.toUpperCase()], env), {
      code: 0,
      stderr: "",
      stdout: `cancelled job ${id} (queue "ops")`,
    });
    assert.equal((await q.get(id))?.state, "cancelled");
    const twice = await cli(["cancel", id], env);
    assert.equal(twice.code, 1);
    assert.equal(
      twice.stderr,
      `pgwake: job ${id} was not cancelled: it is cancelled, and only queued and running jobs can be cancelled`,
    );
    assert.deepEqual(await cli(["retry", id], env), {
      code: 0,
      stderr: "",
      stdout: `requeued job ${id} (queue "ops")`,
    });
    assert.equal((await q.get(id))?.state, "queued");
  },
);
