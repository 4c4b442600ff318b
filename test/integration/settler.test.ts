import assert from "node:assert/strict";
import { Queries, type Db } from "../../src/db/queries.js";
import { Settler } from "../../src/settler.js";
import { dbTest } from "../helpers/db.js";

dbTest(
  "acks of two deliveries of one job in one statement: only the current lease's applies",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("twice");
    const id = await q.send(1);
    const queries = new Queries(schema, false);
    const db = admin as unknown as Db;
    const [first] = (await queries.claimJobs(db, "twice", 1, "stale", null)).rows;
    // The lease lapses and the job is delivered again, with a new token.
    await admin.unsafe(
      `update "${schema}"._jobs set state = 'queued', lease_expires_at = null where id = $1`,
      [id],
    );
    const [second] = (await queries.claimJobs(db, "twice", 1, "current", null)).rows;
    assert.notEqual(first!.leaseToken, second!.leaseToken);

    // Both acks in the same turn share one statement; the stale one must not read as applied.
    const settler = new Settler(queries, db);
    const [stale, current] = await Promise.all([
      settler.complete(id, first!.leaseToken, '"stale"'),
      settler.complete(id, second!.leaseToken, '"current"'),
    ]);
    assert.deepEqual({ stale, current }, { stale: false, current: true });
    assert.equal((await q.get(id))?.result, "current");
  },
);

dbTest(
  "acks, nacks and releases run twice (a retry after a dropped connection) read as applied; a stale lease as missed",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("again", { maxAttempts: 3 });
    await q.sendMany([{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
    const queries = new Queries(schema, false);
    const db = admin as unknown as Db;
    const rows = (await queries.claimJobs(db, "again", 3, "test", null)).rows;
    assert.equal(rows.length, 3);
    const [acked, nacked, released] = rows.map((row) => ({ id: row.id, token: row.leaseToken }));
    const stale = { id: acked!.id, token: "00000000-0000-4000-8000-000000000000" };
    const key = (lease: { id: string; token: string }) => `${lease.id}:${lease.token}`;

    const ack = [{ ...acked!, resultText: '"done"' }];
    const nack = [{ ...nacked!, error: { message: "boom" }, delay_ms: null }];
    for (const run of ["first", "retry"]) {
      assert.deepEqual([...(await queries.completeJobs(db, ack))], [], `ack, ${run}`);
      assert.deepEqual([...(await queries.failJobs(db, nack))], [], `nack, ${run}`);
      assert.deepEqual([...(await queries.releaseJobs(db, [released!]))], [], `release, ${run}`);
    }
    // Answers name only the leases that did not apply, among ones that did.
    const missed = await queries.completeJobs(db, [
      { ...stale, resultText: "null" },
      { ...acked!, resultText: '"done"' },
    ]);
    assert.deepEqual([...missed], [key(stale)]);

    const states = await admin.unsafe<Array<{ id: string; state: string; attempt: number }>>(
      `select id::text, state::text, attempt from "${schema}"._jobs order by id`,
    );
    const byId = new Map(states.map((row) => [row.id, row]));
    assert.equal(byId.get(acked!.id)?.state, "completed");
    assert.equal(byId.get(nacked!.id)?.state, "scheduled", "retried after backoff, once");
    assert.equal(byId.get(nacked!.id)?.attempt, 1);
    assert.equal(byId.get(released!.id)?.state, "queued");
    assert.equal(byId.get(released!.id)?.attempt, 0, "a release does not count the attempt");
    assert.equal((await q.get(acked!.id))?.result, "done");
  },
);

for (const [kind, filter] of [
  ["a claim", null],
  ["a filtered claim", { team: "a" }],
] as const) {
  dbTest(
    `${kind} gives each job a token of its own: one job's token settles no other, nor the same job claimed again`,
    async ({ connect, admin, schema }) => {
      const client = await connect();
      const q = await client.createQueue("derived");
      await q.sendMany(
        [1, 2, 3].map((payload) => ({ payload, options: { attributes: { team: "a" } } })),
      );
      const queries = new Queries(schema, false);
      const db = admin as unknown as Db;
      const claimed = (await queries.claimJobs(db, "derived", 3, "first", filter)).rows;
      assert.equal(claimed.length, 3);
      // UUIDv8 (version 8, RFC variant), so that strict validators accept them.
      const v8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
      for (const row of claimed) assert.match(row.leaseToken, v8);
      assert.equal(new Set(claimed.map((row) => row.leaseToken)).size, 3, "distinct tokens");
      // The lease's expiry is computed once per claim; the wait time is a float.
      const expiry = claimed[0]!.leaseExpiresAt.getTime();
      assert.ok(claimed.every((row) => row.leaseExpiresAt.getTime() === expiry));
      assert.ok(claimed.every((row) => row.waitedMs >= 0 && Number.isFinite(row.waitedMs)));
      // The tokens the database holds are the ones the claim handed out.
      const stored = await admin.unsafe<Array<{ id: string; token: string }>>(
        `select id::text, lease_token::text as token from "${schema}"._jobs where id = any($1::uuid[])`,
        [claimed.map((row) => row.id)],
      );
      assert.deepEqual(
        new Map(stored.map((row) => [row.id, row.token])),
        new Map(claimed.map((row) => [row.id, row.leaseToken])),
      );

      // The first job's lease lapses and another claim takes it: a new token.
      const [lapsed, mate, other] = claimed;
      await admin.unsafe(
        `update "${schema}"._jobs set state = 'queued', lease_expires_at = null where id = $1`,
        [lapsed!.id],
      );
      const [again] = (await queries.claimJobs(db, "derived", 3, "second", filter)).rows;
      assert.equal(again!.id, lapsed!.id);
      assert.ok(!claimed.some((row) => row.leaseToken === again!.leaseToken), "a new token");

      // In one statement: the stale token, and one claim-mate's token on another job, are refused;
      // the current leases apply.
      const settler = new Settler(queries, db);
      const outcomes = await Promise.all([
        settler.complete(lapsed!.id, lapsed!.leaseToken, '"stale"'),
        settler.complete(other!.id, mate!.leaseToken, '"borrowed"'),
        settler.complete(mate!.id, mate!.leaseToken, '"mate"'),
        settler.complete(again!.id, again!.leaseToken, '"current"'),
      ]);
      assert.deepEqual(outcomes, [false, false, true, true]);
      assert.equal(await settler.complete(other!.id, other!.leaseToken, '"own"'), true);
      const results = await Promise.all(claimed.map(async (row) => (await q.get(row.id))?.result));
      assert.deepEqual(results, ["current", "mate", "own"]);
    },
  );
}
