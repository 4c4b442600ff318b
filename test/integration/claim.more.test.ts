import assert from "node:assert/strict";
import { Queries, type Db } from "../../src/db/queries.js";
import { dbTest, within } from "../helpers/db.js";

dbTest(
  "a claim says whether it left runnable jobs behind: only when it came back short past locked ones",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("more");
    const queries = new Queries(schema, false);
    const db = admin as unknown as Db;
    const claim = (limit: number) => queries.claimJobs(db, "more", limit, "test", null);

    assert.deepEqual(await claim(5), { rows: [], more: false }, "an empty queue: nothing left");

    const [a, b, c] = await q.sendMany([{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
    const full = await claim(1);
    assert.deepEqual(
      full.rows.map((r) => r.id),
      [a],
    );
    assert.equal(full.more, true, "a full claim does not look further: look again");

    // b is held FOR SHARE, as a send naming it in `after` holds it until its commit.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = admin.begin(async (tx) => {
      await tx.unsafe(`select 1 from "${schema}"._jobs where id = $1 for share`, [b!]);
      locked();
      await released;
    });
    try {
      await within(isLocked, 5000, "the lock");
      const short = await claim(5);
      assert.deepEqual(
        short.rows.map((r) => r.id),
        [c],
        "the locked job is skipped",
      );
      assert.equal(short.more, true, "and said to be left behind");
    } finally {
      release();
      await holder;
    }
    const last = await claim(5);
    assert.deepEqual(
      last.rows.map((r) => r.id),
      [b],
    );
    assert.equal(last.more, false, "short, with nothing left: wait for a NOTIFY");
  },
);
