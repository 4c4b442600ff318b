/**
 * Failure modes found in review, each reproduced against PostgreSQL so they stay fixed.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import postgres from "postgres";
import { JobCancelledError, JobNotFoundError, ValidationError, type Job } from "../../src/index.js";
import { Client } from "../../src/client.js";
import { dbTest, signal, within } from "../helpers/db.js";

const ticksIn = (statements: string[]): number =>
  statements.filter((s) => s.includes("A consumer's timer")).length;

dbTest(
  "a plain send does not set off a tick: only delayed jobs and leases arm timers",
  async ({ pool, connect }) => {
    const { sql, statements } = pool();
    const ticks = () => ticksIn(statements);
    const client = await connect({ sql: sql as never });
    const q = await client.createQueue<number>("quiet");
    const done = signal();
    let n = 0;
    q.work(async () => void (++n === 21 && done.resolve()));
    // A first job, until it completes: by then the consumer's start-up ticks are over.
    await within(q.send(0).completed, 5000, "a first job");
    const before = ticks();
    for (let i = 1; i <= 20; i++) await q.send(i);
    await within(done.promise, 5000, "20 more jobs");
    assert.equal(ticks() - before, 0, "no tick per send");
  },
);

dbTest("a job delayed by 30 days does not make the timer spin", async ({ pool, connect }) => {
  const { sql, statements } = pool();
  const ticks = () => ticksIn(statements);
  const client = await connect({ sql: sql as never });
  const q = await client.createQueue<number>("far");
  q.work(async () => assert.fail("not due"));
  await q.send(1, { delay: "30d" });
  await new Promise((resolve) => setTimeout(resolve, 500)); // the assertion is about what does not happen
  assert.ok(ticks() <= 3, `${ticks()} ticks in half a second`);
});

dbTest(
  "close hands back claimed-but-unyielded jobs without spending an attempt",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<number>("buffered", { maxAttempts: 1 });
    await q.sendMany([1, 2, 3, 4, 5].map((payload) => ({ payload })));
    const delivered = signal();
    const loop = (async () => {
      for await (const job of q.receive({ batch: 5 })) {
        assert.equal(job.payload, 1);
        delivered.resolve();
        await once(job.signal, "abort"); // busy with job 1 until the client closes
        return;
      }
    })();
    // Close only once job 1 is in the consumer's hands. (Waiting for the database to show five
    // running jobs raced: the claim commits before the iterator yields, and a close in between
    // rightly hands back all five, job 1 included.) One claim took the whole batch.
    // (The loop, if its assertion fails, ends the wait with that error instead of a timeout.)
    await within(Promise.race([delivered.promise, loop]), 5000, "job 1 to be delivered");
    assert.equal((await q.stats()).running, 5, "the batch of five claimed by one claim");
    await client.close({ timeout: 200 });
    await loop;
    const rows = await admin.unsafe(
      `select (payload)::int as p, state::text, attempt from "${schema}"._jobs order by 1`,
    );
    assert.deepEqual(
      rows.map((r) => [r.p, r.state, r.attempt]),
      [
        [1, "failed", 1], // it was delivered, and the client closed on its only attempt
        [2, "queued", 0],
        [3, "queued", 0],
        [4, "queued", 0],
        [5, "queued", 0],
      ],
    );
  },
);

dbTest(
  "sendMany.completed rejects with the send's error instead of resolving []",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue("many");
    await assert.rejects(q.sendMany("not a list" as never).completed, ValidationError);
    await assert.rejects(
      client.queue("missing").sendMany([{ payload: 1 }]).completed,
      /does not exist/,
    );
  },
);

dbTest("completion(id) asked of the wrong queue is JobNotFoundError", async ({ connect }) => {
  const client = await connect();
  const a = await client.createQueue("a");
  await client.createQueue("b");
  const id = await a.send(1);
  await assert.rejects(client.queue("b").completion(id), JobNotFoundError);
});

dbTest(
  "a rolled-back tx send's completed settles without the safety poll",
  async ({ connect, url }) => {
    const client = await connect({ pollInterval: false });
    const q = await client.createQueue("tx");
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      let completed: Promise<unknown> | undefined;
      await sql
        .begin(async (tx) => {
          const sent = q.send(1, { tx });
          await sent;
          completed = sent.completed; // read inside the transaction, before it rolls back
          await new Promise((resolve) => setTimeout(resolve, 300)); // while it is still open
          throw new Error("roll back");
        })
        .catch(() => undefined);
      await assert.rejects(
        within(completed!, 10_000, "the rolled-back job's completion"),
        JobNotFoundError,
      );
    } finally {
      await sql.end();
    }
  },
);

dbTest(
  "a job whose ack keeps failing is redelivered after its lease, not held forever",
  async ({ connect, admin, schema }) => {
    // Acks of this job fail in the database (not a connection error, so no retry helps).
    await connect();
    await admin.unsafe(`
    create function "${schema}".refuse_ack() returns trigger language plpgsql as $$
    begin
      if new.state = 'completed' and new.payload = '"doomed ack"' and new.attempt = 1 then
        raise exception 'acks refused for this test';
      end if;
      return new;
    end $$;
    create trigger refuse_ack before update on "${schema}"._jobs
      for each row execute function "${schema}".refuse_ack();`);
    const client = await connect();
    const errors: Error[] = [];
    client.on("error", (e) => errors.push(e));
    const q = await client.createQueue<string>("stuck", { leaseTime: 500 });
    const attempts: number[] = [];
    q.work(async (job) => {
      attempts.push(job.attempt);
      return "ok";
    });
    assert.equal(await within(q.send("doomed ack").completed, 10_000, "the redelivered job"), "ok");
    assert.deepEqual(attempts, [1, 2]);
    assert.match(errors.map((e) => e.message).join("\n"), /acks refused for this test/);
  },
);

dbTest(
  "a cancellation whose notification was missed still reaches the handler as JobCancelledError",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<string>("quiet-cancel", { leaseTime: 600 });
    const started = signal<Job<string>>();
    q.work(async (job) => {
      started.resolve(job);
      await once(job.signal, "abort");
    });
    const id = await q.send("x");
    const job = await within(started.promise, 5000, "the job to start");
    // Cancel without firing triggers, as if the NOTIFY were lost: only the heartbeat can notice.
    await admin.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx.unsafe(
        `update "${schema}"._jobs set state = 'cancelled', lease_token = null where id = $1`,
        [id],
      );
    });
    await within(once(job.signal, "abort"), 5000, "the heartbeat to notice");
    assert.ok(job.signal.reason instanceof JobCancelledError, String(job.signal.reason));
  },
);

dbTest(
  "a job a claim skipped because a send held it locked (FOR SHARE, by after) is claimed once the lock ends",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<string>("locked");
    const id = await q.send("parent");
    // What a send naming the job in `after` does until it commits: hold it FOR SHARE. The ready
    // NOTIFY of the job went out long before; the lock's end sends none.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = admin.begin(async (tx) => {
      await tx.unsafe(`select 1 from "${schema}"._jobs where id = $1 for share`, [id]);
      locked();
      await released;
    });
    await within(isLocked, 5000, "the lock");
    // The claim statement, watched: it must come back empty and say a runnable job was left.
    const queries = Client.runtimeOf(client).queries;
    const claimJobs = queries.claimJobs.bind(queries);
    const skipped = signal<void>();
    queries.claimJobs = async (...args) => {
      const result = await claimJobs(...args);
      if (result.rows.length === 0 && result.more) skipped.resolve();
      return result;
    };
    const ran = signal<string>();
    try {
      q.work(async (job) => ran.resolve(job.payload));
      await within(skipped.promise, 5000, "a claim that skipped the locked job and says so");
    } finally {
      release(); // an open transaction would keep the test's schema from being dropped
      await holder;
    }
    assert.equal(await within(ran.promise, 5000, "the job to run once the lock ended"), "parent");
  },
);

dbTest(
  "a pool the user passes stays theirs: never replaced, and open after the client closes",
  async ({ pool, connect }) => {
    const { sql } = pool();
    const client = await connect({ sql: sql as never });
    const q = await client.createQueue<number>("borrowed");
    await q.send(1);
    // What pgwake does to a pool of its own that may be broken for good: here, nothing.
    const runtime = Client.runtimeOf(client);
    runtime.pool.failed({ code: "CONNECT_TIMEOUT" });
    assert.equal(runtime.sql, sql, "the user's pool was replaced");
    await client.close();
    const [row] = await sql<[{ one: number }]>`select 1 as one`;
    assert.equal(row.one, 1, "the user's pool was ended by client.close()");
  },
);
