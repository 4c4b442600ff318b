import assert from "node:assert/strict";
import postgres from "postgres";
import { QueueFullError, ValidationError } from "../../src/index.js";
import { dbTest, signal, within } from "../helpers/db.js";

const unfinished = (schema: string, queue: string): string =>
  `select count(*)::int as n from "${schema}"._jobs
   where queue = '${queue}' and state in ('waiting', 'scheduled', 'queued', 'running')`;

dbTest(
  "10 producers in two clients against maxSize 5: the bound is never exceeded, and every send lands",
  async ({ connect, admin, schema }) => {
    const [a, b, consumer] = await Promise.all([connect(), connect(), connect()]);
    await a.createQueue<number>("bounded", { maxSize: 5 });
    const runs = new Map<number, number>();
    const allRan = signal();
    consumer.queue<number>("bounded").work(
      async (job) => {
        runs.set(job.payload, (runs.get(job.payload) ?? 0) + 1);
        if (runs.size === 100) allRan.resolve();
        await new Promise((resolve) => setTimeout(resolve, 5)); // a slow consumer
      },
      { concurrency: 2 },
    );
    // Sample the unfinished count all the while (the assertion is about every moment).
    let peak = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const [row] = await admin.unsafe<Array<{ n: number }>>(unfinished(schema, "bounded"));
        peak = Math.max(peak, row!.n);
      }
    })();
    const producers = [a, b].flatMap((client, c) =>
      Array.from({ length: 5 }, async (_, p) => {
        const q = client.queue<number>("bounded");
        for (let i = 0; i < 10; i++) await q.send(c * 1000 + p * 100 + i);
      }),
    );
    await within(Promise.all(producers), 60_000, "every send to land");
    await within(allRan.promise, 30_000, "every job to run");
    sampling = false;
    await sampler;
    assert.ok(peak <= 5, `the unfinished count reached ${peak}`);
    assert.ok(peak >= 4, `the queue never filled up (peak ${peak}): the test proves nothing`);
    assert.equal(runs.size, 100);
    assert.deepEqual(
      [...runs.values()].filter((n) => n !== 1),
      [],
      "no job ran twice",
    );
  },
  { timeout: 120_000 },
);

dbTest(
  "a send to a full queue gives up after its timeout with QueueFullError, writing nothing",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("full", { maxSize: 1 });
    await q.send("occupant");
    const started = performance.now();
    await assert.rejects(q.send("no room", { timeout: 300 }), (e: unknown) => {
      assert.ok(e instanceof QueueFullError);
      assert.equal(e.queue, "full");
      assert.deepEqual(e.written, []);
      assert.match(e.message, /stayed full.*raise the queue's maxSize/);
      return true;
    });
    assert.ok(performance.now() - started >= 250, "it waited for room first");
    const controller = new AbortController();
    const aborted = q.send("no room either", { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(aborted, QueueFullError);
    const [row] = await admin.unsafe<Array<{ n: number }>>(unfinished(schema, "full"));
    assert.equal(row!.n, 1, "nothing was written");
  },
);

dbTest("a waiting send is woken by a job finishing (NOTIFY), and lands", async ({ connect }) => {
  const producer = await connect({ pollInterval: false });
  const q = await producer.createQueue<string>("tight", { maxSize: 1 });
  await q.send("first");
  let landed = false;
  const second = q.send("second").then((id) => ((landed = true), id));
  const consumer = await connect();
  const ran: string[] = [];
  const both = signal();
  consumer.queue<string>("tight").work(async (job) => {
    ran.push(job.payload);
    if (ran.length === 2) both.resolve();
  });
  await within(second, 5000, "the waiting send to land once the first job finished");
  assert.ok(landed);
  await within(both.promise, 5000, "both jobs to run");
  assert.deepEqual(ran, ["first", "second"]);
});

dbTest(
  "sendMany of more than fits is admitted in order as room frees",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<number>("batches", { maxSize: 3 });
    const order: number[] = [];
    const allRan = signal();
    let peak = 0;
    q.work(
      async (job) => {
        const [row] = await admin.unsafe<Array<{ n: number }>>(unfinished(schema, "batches"));
        peak = Math.max(peak, row!.n);
        if (order.push(job.payload) === 10) allRan.resolve();
      },
      { concurrency: 1 },
    );
    const ids = await within(
      q.sendMany(Array.from({ length: 10 }, (_, i) => ({ payload: i }))),
      20_000,
      "all ten",
    );
    assert.equal(new Set(ids).size, 10);
    await within(allRan.promise, 10_000, "all ten to run");
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.ok(peak <= 3, `the unfinished count reached ${peak}`);
  },
);

dbTest(
  "only bounded queues take the admission lock: unbounded ones pay nothing",
  async ({ connect, url }) => {
    const client = await connect();
    await client.createQueue("free");
    await client.createQueue("bounded", { maxSize: 10 });
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      const advisoryLocks = async (tx: postgres.TransactionSql): Promise<number> => {
        const [row] =
          await tx`select count(*)::int as n from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()`;
        return row!.n as number;
      };
      await sql.begin(async (tx) => {
        await client.queue("free").send(1, { tx });
        assert.equal(await advisoryLocks(tx), 0, "no lock for an unbounded queue");
        await client.queue("bounded").send(1, { tx });
        assert.equal(await advisoryLocks(tx), 1, "one lock for a bounded queue, held until commit");
      });
    } finally {
      await sql.end();
    }
  },
);

dbTest(
  "a bounded queue refuses a REPEATABLE READ transaction, which could not count exactly",
  async ({ connect, url }) => {
    const client = await connect();
    await client.createQueue("bounded", { maxSize: 10 });
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      await assert.rejects(
        sql.begin("isolation level repeatable read", async (tx) => {
          await client.queue("bounded").send(1, { tx });
        }),
        (e: unknown) => e instanceof ValidationError && /READ COMMITTED/.test(e.message),
      );
    } finally {
      await sql.end();
    }
  },
);
