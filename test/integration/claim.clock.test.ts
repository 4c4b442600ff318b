import assert from "node:assert/strict";
import { Queries, type Db } from "../../src/db/queries.js";
import { dbTest } from "../helpers/db.js";

dbTest(
  "a claimed job's start and lease are stamped when it was claimed, never before it was created",
  async ({ connect, admin, schema }) => {
    // A claim's transaction can begin before a send commits and still pick that job: _claim's
    // pick is a later statement with a snapshot of its own (a busy server can pause the call
    // between its first statements; a full suite caught it once). Stamping the job with the
    // transaction's start then dated its start before its creation. Here the claim runs inside
    // a transaction begun before the send, which widens that moment at will.
    const client = await connect();
    const q = await client.createQueue<number>("clock", { leaseTime: 60_000 });
    const queries = new Queries(schema, false);
    for (const filter of [null, { kind: "x" }]) {
      const claimed = await admin.begin(async (tx) => {
        await tx`select now()`; // the transaction's start, and now(), are fixed from here
        await q.send(1, { attributes: { kind: "x" } });
        const { rows } = await queries.claimJobs(tx as unknown as Db, "clock", 1, "me", filter);
        return rows;
      });
      assert.equal(claimed.length, 1, `${filter ? "filtered" : "unfiltered"}: the job was claimed`);
      const [job] = await admin.unsafe<Array<{ started: boolean; lease: boolean }>>(
        `select started_at >= created_at as started,
                lease_expires_at >= created_at + interval '60 seconds' as lease
         from "${schema}"._jobs where id = $1`,
        [claimed[0]!.id],
      );
      const what = filter ? "filtered claim" : "unfiltered claim";
      assert.ok(job!.started, `${what}: started_at is not before created_at`);
      assert.ok(job!.lease, `${what}: the lease runs from the claim, not from before the send`);
    }
  },
);
