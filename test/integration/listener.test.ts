import assert from "node:assert/strict";
import { dbTest, signal, until, within } from "../helpers/db.js";

dbTest(
  "after pg_terminate_backend on the listener, workers and completion handles recover, nothing lost",
  async ({ connect, admin }) => {
    const client = await connect();
    const q = await client.createQueue<number>("recover");
    const handled = new Set<number>();
    q.work(
      async (job) => {
        handled.add(job.payload);
        return job.payload * 10;
      },
      { concurrency: 4 },
    );
    const before = await Promise.all([1, 2, 3].map((n) => q.send(n).completed));
    assert.deepEqual(before, [10, 20, 30]);

    // Jobs in flight while the listener is down: their completions must still arrive.
    const waiting = [4, 5, 6].map((n) => q.send(n, { delay: 300 }));
    const completions = waiting.map((s) => s.completed);
    await Promise.all(waiting);
    const reconnected = new Promise((resolve) => client.once("listener:reconnect", resolve));
    const killed = await admin`
    select pg_terminate_backend(pid) as ok from pg_stat_activity
    where application_name like ${`pgwake ${client.name} listener`}`;
    assert.equal(killed.length, 1, "exactly one listener connection");
    const during = [7, 8, 9].map((n) => q.send(n).completed);
    await within(reconnected, 10_000, "the listener to reconnect");
    assert.deepEqual(
      await within(
        Promise.all([...completions, ...during]),
        10_000,
        "completions across the reconnect",
      ),
      [40, 50, 60, 70, 80, 90],
    );
    const after = await q.send(10).completed;
    assert.equal(after, 100);
    assert.equal(handled.size, 10);
  },
);

dbTest("an idle client sends no queries at all", async ({ connect, pool, admin }) => {
  const { sql, statements } = pool({
    max: 4,
    connection: { application_name: "pgwake idle-test" },
  });
  const client = await connect({ sql: sql as never, pollInterval: "30s", name: "idle-test" });
  const q = await client.createQueue<number>("idle");
  const done = signal();
  q.work(async () => done.resolve(), { concurrency: 4 });
  const loop = (async () => {
    for await (const job of client.queue("idle-2").receive()) await job.ack();
  })();
  await q.send(1);
  await within(done.promise, 5000, "one job to run");
  // Let the last statements of that job finish: its ack, the timers' first ticks, and the check
  // a short claim makes for locked jobs. Quiet means no new statement for 300 ms, none running.
  await until(async () => (await q.stats()).completed === 1, 5000, "the ack");
  let seen = -1;
  await until(
    async () => {
      const before = statements.length;
      await new Promise((resolve) => setTimeout(resolve, 300));
      const [row] = await admin`select count(*)::int as n from pg_stat_activity
        where application_name = 'pgwake idle-test' and state <> 'idle'`;
      const quiet = statements.length === before && statements.length === seen && row?.n === 0;
      seen = statements.length;
      return quiet;
    },
    10_000,
    "the pgwake connections to fall quiet",
  );
  const quietSince = statements.length;
  const windowStart = new Date();
  await new Promise((resolve) => setTimeout(resolve, 3000)); // the assertion is about silence
  assert.deepEqual(statements.slice(quietSince), [], "statements sent while idle");
  const busy = await admin`
    select count(*)::int as n from pg_stat_activity
    where application_name like 'pgwake idle-test%' and state_change >= ${windowStart}`;
  assert.equal(busy[0]?.n, 0, "no pgwake connection changed state while idle");
  await client.close();
  await loop;
});

dbTest(
  "NOTIFY wakes an idle worker in milliseconds, far faster than any poll",
  async ({ connect }) => {
    const client = await connect({ pollInterval: false });
    const q = await client.createQueue<number>("fast");
    const latencies: number[] = [];
    let next = signal();
    q.work(async (job) => {
      latencies.push(Date.now() - job.payload);
      next.resolve();
    });
    for (let i = 0; i < 20; i++) {
      next = signal();
      await q.send(Date.now());
      await within(next.promise, 5000, "a wake-up");
    }
    latencies.sort((a, b) => a - b);
    // Loose on purpose (a loaded 2-core machine): polling is off, so anything like this is NOTIFY.
    // The real numbers live in the benchmark.
    assert.ok(
      latencies[10]! < 500 && latencies.at(-1)! < 1500,
      `median wake-up ${latencies[10]}ms, slowest ${latencies.at(-1)}ms`,
    );
  },
);
