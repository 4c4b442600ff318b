import assert from "node:assert/strict";
import { Queries } from "../../src/db/queries.js";
import { COLUMNS } from "../../src/db/rows.js";
import { dbTest } from "../helpers/db.js";

/** Params that make each statement run (they need not match anything). */
const PARAMS: Record<keyof typeof COLUMNS, unknown[]> = {
  claimJobs: ["q", 1, "test"],
  claimJobsWhere: ["q", 1, "test", '{"a":1}'],
  tickQueue: ["q"],
  jobOutcomes: [["0190a6f4-0000-7000-8000-000000000001"]],
  getJob: ["0190a6f4-0000-7000-8000-000000000001", "q"],
  getQueue: ["q"],
  listJobs: [null, "{queued,scheduled}", null, 10],
  listQueues: [null],
};

dbTest(
  "every decoder's column list matches what its statement returns",
  async ({ connect, admin, schema }) => {
    await connect(); // migrates
    const queries = new Queries(schema, false);
    for (const [name, columns] of Object.entries(COLUMNS) as Array<
      [keyof typeof COLUMNS, readonly string[]]
    >) {
      const result = await admin.unsafe(queries.text(name), PARAMS[name] as never[]);
      assert.deepEqual(
        result.columns.map((c) => c.name),
        [...columns],
        `${name}: sql/queries and src/db/rows.ts disagree`,
      );
    }
  },
);
