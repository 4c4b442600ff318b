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
