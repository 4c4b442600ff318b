import assert from "node:assert/strict";
import { QueueNotFoundError, ValidationError } from "../../src/index.js";
import { dbTest, until, within } from "../helpers/db.js";

dbTest(
  "three clients and a one-second schedule: exactly one job per tick",
  async ({ connect, admin, schema }) => {
    const clients = await Promise.all([connect(), connect(), connect()]);
    await clients[0]!.createQueue("ticks");
    await clients[0]!.schedule("every-second", {
      queue: "ticks",
      every: "1s",
      payload: { hello: "tick" },
    });
    const jobs = async (): Promise<Array<{ created_at: Date; payload: unknown }>> =>
      (await admin.unsafe(
        `select created_at, payload from "${schema}"._jobs where queue = 'ticks' order by created_at`,
      )) as never;
    await until(async () => (await jobs()).length >= 4, 10_000, "four ticks");
    const rows = await jobs();
    const gaps = rows
      .slice(1)
      .map((r, i) => r.created_at.getTime() - rows[i]!.created_at.getTime());
    assert.ok(
      gaps.every((gap) => gap > 700 && gap < 1300),
      `one job a second, got gaps ${gaps.join(", ")} ms`,
    );
    assert.deepEqual(rows[0]!.payload, { hello: "tick" });
    const [schedule] = await clients[1]!.schedules();
    assert.equal(schedule?.name, "every-second");
    assert.ok(schedule?.lastJobId, "the last job is recorded");
  },
  { timeout: 30_000 },
);

dbTest(
  "after downtime, missed ticks produce one catch-up job, not a burst",
  async ({ connect, admin, schema }) => {
    const setup = await connect();
    await setup.createQueue("catch-up");
    await setup.schedule("minutely", { queue: "catch-up", every: "1m" });
    await setup.close();
    // Nobody ran for ten minutes.
    await admin.unsafe(
      `update "${schema}"._schedules set next_run_at = now() - interval '10 minutes 30 seconds'`,
    );
    const client = await connect();
    await until(
      async () => (await client.queue("catch-up").stats()).queued > 0,
      5000,
      "the catch-up job",
    );
    assert.equal(
      (await client.queue("catch-up").stats()).queued,
      1,
      "one job for ten missed ticks",
    );
    const [schedule] = await client.schedules();
    const ahead = schedule!.nextRunAt.getTime() - Date.now();
    assert.ok(
      ahead > 0 && ahead <= 60_000,
      `the next tick is within the next minute, on the old grid (${ahead} ms)`,
    );
  },
);

dbTest(
  "re-declaring a schedule keeps its next tick; changing its timing moves it",
  async ({ connect }) => {
    const client = await connect();
    await client.createQueue("reports");
    const first = await client.schedule("nightly", {
      queue: "reports",
      cron: "0 3 * * *",
      timezone: "Europe/Paris",
    });
    assert.equal(
      first.nextRunAt.getUTCHours() % 24 === 1 || first.nextRunAt.getUTCHours() === 2,
      true,
      "03:00 in Paris is 01:00 or 02:00 UTC",
    );
    const again = await client.schedule("nightly", {
      queue: "reports",
      cron: "0 3 * * *",
      timezone: "Europe/Paris",
      payload: { v: 2 },
    });
    assert.equal(again.nextRunAt.getTime(), first.nextRunAt.getTime());
    assert.deepEqual(again.payload, { v: 2 });
    const moved = await client.schedule("nightly", { queue: "reports", cron: "30 4 * * *" });
    assert.equal(moved.nextRunAt.getUTCHours(), 4);
    assert.equal(moved.nextRunAt.getUTCMinutes(), 30);
    assert.equal(await client.unschedule("nightly"), true);
    assert.equal(await client.unschedule("nightly"), false);
    assert.deepEqual(await client.schedules(), []);
  },
);

dbTest("schedule options are checked before anything is written", async ({ connect }) => {
  const client = await connect();
  await client.createQueue("q");
  const bad: Array<[unknown, RegExp]> = [
    [{ queue: "q" }, /exactly one of them/],
    [{ queue: "q", cron: "* * * * *", every: "1m" }, /exactly one of them/],
    [{ queue: "q", cron: "61 * * * *" }, /cron is not usable/],
    [{ queue: "q", cron: "0 0 30 2 *" }, /never fires/],
    // A year field could run a schedule out of ticks: five or six fields, as documented.
    [{ queue: "q", cron: "0 0 0 1 1 * 2099" }, /cron is not usable/],
    [{ queue: "q", cron: "* * * * *", timezone: "Nowhere/City" }, /timezone is not usable/],
    [{ queue: "q", every: 10 }, /at least 1s/],
    [{ queue: "q", every: "1m", timezone: "UTC" }, /applies to cron only/],
    [{ queue: "q", every: "1m", payload: () => 1 }, /function/],
    [{ queue: "q", every: "1m", options: { delay: 5 } }, /unknown option "delay"/],
    [{ queue: "bad name", every: "1m" }, /letters, digits/],
  ];
  for (const [options, message] of bad) {
    await assert.rejects(
      client.schedule("s", options as never),
      (e: unknown) => e instanceof ValidationError && message.test(e.message),
      String(message),
    );
  }
  await assert.rejects(client.schedule("s", { queue: "missing", every: "1m" }), QueueNotFoundError);
  assert.deepEqual(await client.schedules(), []);
});

dbTest(
  "a scheduled job carries its options, and a key keeps runs from overlapping",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue("slow");
    await client.schedule("guarded", {
      queue: "slow",
      every: "1s",
      options: { priority: 3, attributes: { by: "schedule" }, key: "one-at-a-time" },
    });
    await within(
      (async () => {
        while ((await q.stats()).queued === 0) await new Promise((r) => setTimeout(r, 20));
      })(),
      5000,
      "the first scheduled job",
    );
    // Nobody works the queue: later ticks find the key held and add nothing.
    await new Promise((resolve) => setTimeout(resolve, 2200));
    assert.equal((await q.stats()).queued, 1);
    const [job] = await Promise.all(
      [(await client.schedules())[0]!.lastJobId].map((id) => q.get(id!)),
    );
    assert.equal(job?.priority, 3);
    assert.deepEqual(job?.attributes, { by: "schedule" });
  },
);

dbTest(
  "a stored schedule with no tick left does not hold up the others, and is reported once",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const errors: unknown[] = [];
    client.on("error", (error) => errors.push(error));
    await client.createQueue("q");
    // Rows like this one could be stored before patterns were held to five or six fields.
    await admin.unsafe(
      `insert into "${schema}"._schedules (name, queue, cron, next_run_at)
       values ('ran-out', 'q', '0 0 0 1 1 * 2020', now())`,
    );
    await client.schedule("steady", { queue: "q", every: "1s" });
    await until(
      async () => (await client.queue("q").stats()).queued >= 3,
      10_000,
      "three ticks of the steady schedule",
    );
    assert.equal(errors.length, 1, String(errors));
    assert.ok(errors[0] instanceof ValidationError);
    assert.match(errors[0].message, /no tick after .*Replace the schedule/);
  },
);
