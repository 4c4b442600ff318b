import assert from "node:assert/strict";
import postgres from "postgres";
import {
  JobNotFoundError,
  QueueNotFoundError,
  ValidationError,
  type Client,
} from "../../src/index.js";
import { dbTest, signal, within } from "../helpers/db.js";

async function jobCount(admin: postgres.Sql, schema: string): Promise<number> {
  const { n } = (
    await admin.unsafe<Array<{ n: number }>>(`select count(*)::int as n from "${schema}"._jobs`)
  )[0]!;
  return n as number;
}

dbTest(
  "send stores the job with its options and resolves with its id once committed",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("emails");
    const id = await q.send(
      { to: "a@b.c" },
      { priority: 7, attributes: { region: "eu" }, maxAttempts: 2 },
    );
    const [row] = await admin.unsafe(
      `select queue, state::text, priority, payload, attributes, max_attempts, attempt from "${schema}"._jobs where id = $1`,
      [id],
    );
    assert.deepEqual(row, {
      queue: "emails",
      state: "queued",
      priority: 7,
      payload: { to: "a@b.c" },
      attributes: { region: "eu" },
      max_attempts: 2,
      attempt: 0,
    });
    const info = await q.get(id);
    assert.equal(info?.maxAttempts, 2);
    assert.deepEqual(info?.attributes, { region: "eu" });
  },
);

dbTest(
  "sendMany writes the whole batch in one statement, ids in order",
  async ({ pool, schema, connect, admin }) => {
    const { sql, statements } = pool();
    const client: Client = await connect({ sql: sql as never });
    const q = await client.createQueue("bulk");
    statements.length = 0;
    const items = Array.from({ length: 500 }, (_, i) => ({
      payload: { i },
      options: { priority: i % 3 },
    }));
    const ids = await q.sendMany(items);
    assert.equal(ids.length, 500);
    assert.equal(
      statements.filter((s) => s.includes("_enqueue(")).length,
      1,
      "one insert statement",
    );
    const rows = await admin.unsafe(`select id::text, payload, priority from "${schema}"._jobs`);
    const byId = new Map(rows.map((r) => [r.id as string, r]));
    ids.forEach((id, i) =>
      assert.deepEqual({ ...byId.get(id) }, { id, payload: { i }, priority: i % 3 }),
    );
  },
);

dbTest(
  "concurrent sends share statements and NOTIFYs",
  async ({ pool, schema, connect, admin }) => {
    const { sql, statements } = pool();
    const client = await connect({ sql: sql as never });
    const q = await client.createQueue("many");
    const notices: string[] = [];
    let announced = 0;
    const allAnnounced = signal();
    await admin.listen(`${schema}:ready`, (payload) => {
      notices.push(payload);
      const { n } = JSON.parse(payload) as { n?: number };
      announced += n ?? 0; // a listener's probe carries no count
      if (announced >= 200) allAnnounced.resolve();
    });
    statements.length = 0;
    const ids = await Promise.all(Array.from({ length: 200 }, (_, i) => q.send(i)));
    assert.equal(new Set(ids).size, 200);
    const inserts = statements.filter((s) => s.includes("_enqueue(")).length;
    assert.ok(inserts <= 4, `200 concurrent sends took ${inserts} insert statements`);
    assert.equal(await jobCount(admin, schema), 200);
    // One NOTIFY per statement, carrying how many jobs became ready.
    await within(allAnnounced.promise, 5000, "ready notifications for 200 jobs");
    assert.equal(notices.length, inserts);
  },
);

dbTest(
  "a send to a queue that does not exist rejects and writes nothing",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    await assert.rejects(
      client.queue("nope").send(1),
      (e: unknown) =>
        e instanceof QueueNotFoundError && e.queue === "nope" && /createQueue/.test(e.message),
    );
    await assert.rejects(client.queue("nope").sendMany([{ payload: 1 }]), QueueNotFoundError);
    await assert.rejects(client.queue("nope").send(1).completed, QueueNotFoundError);
    assert.equal(await jobCount(admin, schema), 0);
  },
);

dbTest(
  "bad input rejects the handle with a ValidationError and writes nothing",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("strict");
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const cases: Array<[string, () => PromiseLike<unknown>, RegExp]> = [
      ["function payload", () => q.send((() => 1) as never), /function/],
      ["BigInt payload", () => q.send({ n: 1n } as never), /BigInt/],
      ["cyclic payload", () => q.send(cycle as never), /cycle/],
      ["undefined payload", () => q.send(undefined as never), /undefined/],
      ["negative delay", () => q.send(1, { delay: -5 }), /delay/],
      ["non-numeric delay", () => q.send(1, { delay: "later" }), /delay/],
      ["maxAttempts 0", () => q.send(1, { maxAttempts: 0 }), /maxAttempts/],
      ["fractional priority", () => q.send(1, { priority: 0.5 }), /priority/],
      ["unknown option", () => q.send(1, { prio: 1 } as never), /unknown option "prio"/],
      ["options not an object", () => q.send(1, 5 as never), /an object/],
      [
        "one bad item in sendMany",
        () => q.sendMany([{ payload: 1 }, { payload: () => 2 }] as never),
        /items\[1\]/,
      ],
    ];
    for (const [what, send, message] of cases) {
      let handle: PromiseLike<unknown> | undefined;
      assert.doesNotThrow(() => (handle = send()), `${what}: send must not throw`);
      await assert.rejects(
        Promise.resolve(handle),
        (e: unknown) => e instanceof ValidationError && message.test(e.message),
        what,
      );
    }
    assert.throws(() => client.queue("bad name"), ValidationError);
    await assert.rejects(client.createQueue("q", { maxAttempts: 0 }), ValidationError);
    assert.equal(await jobCount(admin, schema), 0);
    const { n } = (
      await admin.unsafe<Array<{ n: number }>>(`select count(*)::int as n from "${schema}"._queues`)
    )[0]!;
    assert.equal(n, 1);
  },
);

dbTest(
  "a send inside a transaction is invisible and unannounced until commit",
  async ({ connect, admin, schema, url }) => {
    const client = await connect();
    const q = await client.createQueue("tx");
    const notices: string[] = [];
    const notified = signal();
    await admin.listen(`${schema}:ready`, (payload) => {
      notices.push(payload);
      notified.resolve();
    });
    const sql = postgres(url, { max: 2, onnotice: () => undefined });
    try {
      let id = "";
      await sql.begin(async (tx) => {
        id = await q.send({ in: "tx" }, { tx });
        assert.equal(await jobCount(admin, schema), 0, "invisible before commit");
        // Give a would-be early NOTIFY every chance to arrive.
        await admin`select 1`;
        assert.equal(notices.length, 0, "no NOTIFY before commit");
      });
      assert.equal((await q.get(id))?.state, "queued");
      await within(notified.promise, 5000, "the NOTIFY after commit");
    } finally {
      await sql.end();
    }
  },
);

dbTest(
  "a send in a rolled-back transaction is gone, and its completion says so",
  async ({ connect, admin, schema, url }) => {
    const client = await connect({ pollInterval: "1s" });
    const q = await client.createQueue("tx");
    const sql = postgres(url, { max: 2, onnotice: () => undefined });
    try {
      let completed: Promise<unknown> | undefined;
      await assert.rejects(
        sql.begin(async (tx) => {
          const sent = q.send({ doomed: true }, { tx });
          completed = sent.completed;
          await sent;
          throw new Error("roll back");
        }),
        /roll back/,
      );
      assert.equal(await jobCount(admin, schema), 0);
      await assert.rejects(
        within(completed!, 5000, "completion of a rolled-back send"),
        (e: unknown) => e instanceof JobNotFoundError && /rolled back/.test(e.message),
      );
    } finally {
      await sql.end();
    }
  },
);

dbTest(
  "payloads come back unchanged through a user sql with postgres.camel transforms",
  async ({ url, connect }) => {
    const sql = postgres(url, { max: 3, onnotice: () => undefined, transform: postgres.camel });
    try {
      const client = await connect({ sql: sql as never });
      const q = await client.createQueue("camel");
      const payload = { snake_case: { nested_key: [1, { deep_key: "v" }] }, "kebab-key": true };
      q.work(async (job) => {
        assert.deepEqual(job.payload, payload);
        return { result_key: job.payload };
      });
      assert.deepEqual(await within(q.send(payload).completed, 5000, "completion"), {
        result_key: payload,
      });
      const id = await q.send(payload);
      assert.deepEqual((await q.get(id))?.payload, payload);
    } finally {
      await sql.end();
    }
  },
);
