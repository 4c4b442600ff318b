import assert from "node:assert/strict";
import { Queries } from "../../src/db/queries.js";
import { dbTest, explainQuery, serverVersion, type DbContext } from "../helpers/db.js";

/** 10,000 jobs queued in `queue`, then ANALYZE: statistics that see them all queued. */
async function analyzedBacklog(
  { connect, admin, schema }: Pick<DbContext, "connect" | "admin" | "schema">,
  queue: string,
): Promise<void> {
  const q = await (await connect()).createQueue(queue);
  for (let i = 0; i < 10_000; i += 1000) {
    await q.sendMany(Array.from({ length: 1000 }, (_, j) => ({ payload: i + j })));
  }
  await admin.unsafe(`analyze "${schema}"._jobs`);
}

dbTest(
  "an unfiltered claim is planned once per connection, walks the claim index and reads the primary key",
  async ({ connect, admin, schema, pool }) => {
    await analyzedBacklog({ connect, admin, schema }, "deep");
    // The plans of the statements inside _claim (migration 0009), as auto_explain reports them.
    const notices: string[] = [];
    const { sql } = pool({ max: 1, onnotice: (notice) => notices.push(notice.message ?? "") });
    await sql.unsafe(`load 'auto_explain'`);
    await sql.unsafe(`set auto_explain.log_min_duration = 0`);
    await sql.unsafe(`set auto_explain.log_nested_statements = on`);
    await sql.unsafe(`set auto_explain.log_level = notice`);
    const text = new Queries(schema, false).text("claimJobs");
    // A worker claiming ahead asks for hundreds at once; more than five calls, so that the plan
    // cache has made its choice.
    for (let i = 0; i < 8; i++) {
      notices.length = 0;
      const rows = await sql.unsafe(text, ["deep", 500, "test"], { prepare: true });
      assert.equal(rows.length, 500);
    }
    const plans = notices.join("\n----\n");
    assert.match(plans, /Index Scan using _jobs_claim_idx/, plans);
    assert.match(plans, /Update on _jobs[\s\S]*Index Scan using _jobs_pkey/, plans);
    assert.doesNotMatch(plans, /Seq Scan on _jobs|Bitmap/, plans);
    // Generic plans inside: the queue is a parameter, not the constant 'deep'.
    assert.match(plans, /queue = \$\d/, plans);
    // (PostgreSQL 16+ also logs the call's parameters, `$1 = 'deep'`: not a plan condition.)
    assert.doesNotMatch(plans, /queue = 'deep'/, plans);
    // And the statement itself: planned for its first calls, then its generic plan is kept.
    // PostgreSQL 13 does not count plans (generic_plans came in 14); on every version, the plan
    // the next call would run keeps its parameters as parameters.
    const [prepared] = await sql<[{ name: string }]>`
      select name from pg_prepared_statements where statement = ${text}`;
    const next = await sql.unsafe(
      `explain (verbose) execute "${prepared!.name}"('deep', 500, 'test')`,
    );
    const nextPlan = next.map((row) => row["QUERY PLAN"] as string).join("\n");
    assert.match(nextPlan, /_claim\(\$1, \$2, \$3\)/, nextPlan);
    if ((await serverVersion(sql)) >= 140000) {
      const [counts] = await sql<[{ generic: number; custom: number }]>`
        select generic_plans::int as generic, custom_plans::int as custom
        from pg_prepared_statements where statement = ${text}`;
      assert.ok(counts && counts.generic >= 2 && counts.custom <= 6, JSON.stringify(counts));
    }
  },
);

dbTest(
  "a claim commits without waiting for the disk; the session's setting is left alone",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("async-commit");
    await q.send(1);
    const text = new Queries(schema, false).text("claimJobs");
    const [before] =
      await admin.unsafe<[{ synchronous_commit: string }]>("show synchronous_commit");
    const inside = await admin.begin(async (tx) => {
      const claimed = await tx.unsafe(text, ["async-commit", 1, "test"]);
      assert.equal(claimed.length, 1);
      const [row] = await tx.unsafe<[{ synchronous_commit: string }]>("show synchronous_commit");
      return row.synchronous_commit;
    });
    assert.equal(inside, "off");
    const [after] = await admin.unsafe<[{ synchronous_commit: string }]>("show synchronous_commit");
    // The test server may run with it off anyway (the embedded one does): unchanged is the point.
    assert.equal(after.synchronous_commit, before.synchronous_commit);
  },
);

dbTest(
  "acks, nacks, heartbeats and releases of hundreds of held jobs read the primary key, whatever ANALYZE saw",
  async ({ connect, admin, schema }) => {
    // Statistics that saw no running job: the running index then looks empty, and the planner
    // used to walk all of it (every entry, dead ones included) for each batch of ids.
    await analyzedBacklog({ connect, admin, schema }, "held");
    const claimed = await admin.unsafe(new Queries(schema, false).text("claimJobs"), [
      "held",
      5000,
      "test",
    ]);
    assert.equal(claimed.length, 5000);
    const batch = JSON.stringify(
      claimed.slice(0, 500).map((row) => ({
        id: row.id as string,
        token: row.lease_token as string,
        lease_ms: 30_000,
        result: null,
        error: null,
        delay_ms: null,
      })),
    );
    for (const name of ["completeJobs", "failJobs", "heartbeatJobs", "releaseJobs"] as const) {
      const plan = await explainQuery(admin, schema, name, [batch]);
      assert.match(plan, /_jobs_pkey/, `${name}\n${plan}`);
      assert.doesNotMatch(
        plan,
        /_jobs_running_idx|_jobs_finished_idx|_jobs_failed_idx|Seq Scan on _jobs/,
        `${name}\n${plan}`,
      );
    }
  },
);

dbTest(
  "a claim on a table filled before its first ANALYZE walks the claim index, not every queued job",
  async ({ connect, admin, schema, pool }) => {
    const client = await connect();
    await client.createQueue("unanalyzed");
    // One connection throughout, whose cached plans were made while the table was empty: the
    // plans _claim keeps for the connection must serve a table that grew since.
    const { sql } = pool({ max: 1 });
    const text = new Queries(schema, false).text("claimJobs");
    for (let i = 0; i < 8; i++) {
      const [none] = await sql.unsafe(text, ["unanalyzed", 10, "test"], { prepare: true });
      assert.equal(none?.id, null);
    }
    // Autovacuum would analyze the table within a minute; the claims in between are the point.
    await admin.unsafe(`alter table "${schema}"._jobs set (autovacuum_enabled = false)`);
    // Written by SQL, not sent: 400,000 rows is where PostgreSQL 15's planner, without
    // statistics, turns to a bitmap scan of every queued job (it did not at 300,000).
    await admin.unsafe(
      `insert into "${schema}"._jobs (queue, payload)
       select 'unanalyzed', to_jsonb(g) from generate_series(0, 399999) g`,
    );
    const [never] = await admin.unsafe<[{ reltuples: number; relpages: number }]>(
      `select reltuples, relpages from pg_class where oid = '"${schema}"._jobs'::regclass`,
    );
    // Never analyzed nor vacuumed: -1 tuples since PostgreSQL 14, 0 tuples in 0 pages before.
    if ((await serverVersion(admin)) >= 140000) {
      assert.equal(never.reltuples, -1, "the table must not have been analyzed yet");
    } else {
      assert.deepEqual(
        { ...never },
        { reltuples: 0, relpages: 0 },
        "the table must not have been analyzed yet",
      );
    }
    await sql.unsafe(text, ["unanalyzed", 10, "test"], { prepare: true });
    const plan = await sql.unsafe(`explain (analyze, buffers, format json) ${text}`, [
      "unanalyzed",
      10,
      "test",
    ]);
    const top = (plan[0]!["QUERY PLAN"] as Array<{ Plan: Record<string, number> }>)[0]!.Plan;
    const buffers = top["Shared Hit Blocks"]! + top["Shared Read Blocks"]!;
    // Fetching and sorting all 400,000 queued jobs reads every page of the table (hundreds); the
    // index's head and the ten rows are a few dozen.
    assert.ok(buffers < 200, `a claim of 10 read ${buffers} buffers`);
    const [{ running }] = await admin.unsafe<[{ running: number }]>(
      `select count(*)::int as running from "${schema}"._jobs where state = 'running'`,
    );
    assert.equal(running, 20, "the claim after the load and the explained one took 10 each");
  },
);
