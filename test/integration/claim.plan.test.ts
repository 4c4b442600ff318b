import assert from "node:assert/strict";
import { Queries } from "../../src/db/queries.js";
import { dbTest, explainQuery } from "../helpers/db.js";

dbTest(
  "a claim of hundreds of jobs reads the primary key for them, never the whole table",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("deep");
    for (let i = 0; i < 10_000; i += 1000) {
      await q.sendMany(Array.from({ length: 1000 }, (_, j) => ({ payload: i + j })));
    }
    await admin.unsafe(`analyze "${schema}"._jobs`);
    // A worker claiming ahead asks for hundreds at once: joined to the picked ids, the update
    // used to hash every row of the table on each claim.
    const plan = await explainQuery(admin, schema, "claimJobs", ["deep", 500, "test", null]);
    assert.match(plan, /_jobs_claim_idx/, plan);
    assert.match(plan, /_jobs_pkey/, plan);
    assert.doesNotMatch(plan, /Seq Scan on _jobs/, plan);
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
      const claimed = await tx.unsafe(text, ["async-commit", 1, "test", null]);
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
    const client = await connect();
    const q = await client.createQueue("held");
    for (let i = 0; i < 10_000; i += 1000) {
      await q.sendMany(Array.from({ length: 1000 }, (_, j) => ({ payload: i + j })));
    }
    // Statistics that saw no running job: the running index then looks empty, and the planner
    // used to walk all of it (every entry, dead ones included) for each batch of ids.
    await admin.unsafe(`analyze "${schema}"._jobs`);
    const claimed = await admin.unsafe(new Queries(schema, false).text("claimJobs"), [
      "held",
      5000,
      "test",
      null,
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
