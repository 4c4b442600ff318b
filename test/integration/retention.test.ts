import assert from "node:assert/strict";
import postgres from "postgres";
import { Queries } from "../../src/db/queries.js";
import { Client } from "../../src/index.js";
import { dbTest, signal, until, untilWaitingForLock } from "../helpers/db.js";

dbTest(
  "finished jobs are deleted after their queue's retention; unfinished ones never",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<number>("short", {
      retention: 300,
      maxAttempts: 1,
      deadLetter: "short-dead",
    });
    await client.createQueue("short-dead", { retention: "1h" });
    q.work(async (job) => {
      if (job.payload === 2) throw new Error("dead-lettered");
    });
    await q.sendMany([{ payload: 1 }, { payload: 2 }]);
    await q.send(3, { delay: "1h" }); // unfinished: kept
    const count = async (queue: string): Promise<number> =>
      (
        await admin.unsafe<Array<{ n: number }>>(
          `select count(*)::int as n from "${schema}"._jobs where queue = '${queue}'`,
        )
      )[0]!.n;
    await until(
      async () => (await count("short")) === 1,
      10_000,
      "the finished jobs to be deleted",
    );
    assert.equal((await q.stats()).queued, 1, "the delayed job is kept");
    assert.equal(
      await count("short-dead"),
      1,
      "the dead-lettered copy follows its own queue's retention",
    );
  },
);

dbTest(
  "a backlog is deleted in small batches, oldest first, one process at a time",
  async ({ connect, admin, schema }) => {
    // First with no client running (the schema migrated, then left alone).
    const setup = await connect();
    await setup.createQueue("backlog", { retention: "1d" });
    await setup.close();
    // 1200 jobs past retention; job i finished i ms before the others.
    await admin.unsafe(`
      insert into "${schema}"._jobs (queue, state, payload, finished_at)
      select 'backlog', 'completed', to_jsonb(i), now() - interval '2 days' - i * interval '1 millisecond'
      from generate_series(1, 1200) i`);
    const count = async (): Promise<number> =>
      (
        await admin.unsafe<Array<{ n: number }>>(`select count(*)::int as n from "${schema}"._jobs`)
      )[0]!.n;
    const queries = new Queries(schema, false);
    // Another process is cleaning (it holds the lock): this one stands back.
    await admin.begin(async (tx) => {
      await tx.unsafe(`select pg_advisory_xact_lock(hashtextextended($1, 0))`, [
        `${schema}:cleaner`,
      ]);
      const other = postgres(process.env.DATABASE_URL!, { max: 1, onnotice: () => undefined });
      try {
        assert.deepEqual(await queries.deleteExpired(other as never, 500), {
          allowed: false,
          deleted: 0,
        });
      } finally {
        await other.end();
      }
    });
    assert.deepEqual(await queries.deleteExpired(admin as never, 500), {
      allowed: true,
      deleted: 500,
    });
    const [kept] = await admin.unsafe(`select max((payload)::int) as p from "${schema}"._jobs`);
    assert.equal(kept!.p, 700, "the 500 oldest (1200 down to 701) went first");
    // A client starting after the downtime cleans up the rest by itself.
    await connect();
    await until(
      async () => (await count()) === 0,
      10_000,
      "the client's cleaner to delete the rest",
    );
  },
);

dbTest(
  "the cleaner leaves alone a job retried while it deletes: it was finished when read, not now",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<number>("retried", { retention: "1h" });
    const id = await q.send(1);
    assert.equal(await q.cancel(id), 1);
    // Past its retention, without the cleaner's timer knowing: only the batch below deletes.
    await admin.unsafe(
      `update "${schema}"._jobs set finished_at = now() - interval '2 hours' where id = $1`,
      [id],
    );
    const retried = signal();
    const commit = signal();
    const retry = admin.begin(async (tx) => {
      // retryJob's update, held open so that the cleaner's delete meets the new row version.
      await tx.unsafe(
        `update "${schema}"._jobs set state = 'queued', attempt = 0, run_at = now(),
           result = null, finished_at = null, lease_token = null, leased_by = null
         where id = $1`,
        [id],
      );
      retried.resolve();
      await commit.promise;
    });
    await retried.promise;
    const runtime = Client.runtimeOf(client);
    const batch = runtime.queries.deleteExpired(runtime.db, 500);
    await untilWaitingForLock(admin, "doomed", "the cleaner's delete to wait for the retry");
    commit.resolve();
    await retry;
    await batch;
    assert.equal((await q.get(id))?.state, "queued", "the retried job is still there");
  },
);
