import assert from "node:assert/strict";
import { ValidationError } from "../../src/index.js";
import { dbTest, signal, within } from "../helpers/db.js";

dbTest(
  "SQL can enqueue with <schema>.send(queue, payload, options), and a worker runs it",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<{ to: string }, string>("emails");
    const [row] = await admin.unsafe<Array<{ id: string }>>(
      `select "${schema}".send('emails', '{"to": "a@b.c"}', '{"priority": 5, "attributes": {"source": "sql"}}')::text as id`,
    );
    q.work(async (job) => `sent to ${job.payload.to} (${job.attributes.source})`);
    assert.equal(
      await within(q.completion(row!.id), 5000, "the SQL-sent job"),
      "sent to a@b.c (sql)",
    );
    const info = await q.get(row!.id);
    assert.equal(info?.priority, 5);
  },
);

dbTest(
  "a trigger on an application table enqueues in the same transaction",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<{ order: number }, string>("order-emails");
    // The README's example, on this test's schema.
    await admin.unsafe(`
    create table "${schema}".orders (id serial primary key, email text not null);
    create function "${schema}".orders_enqueue_email() returns trigger language plpgsql as $$
    begin
      perform "${schema}".send('order-emails', jsonb_build_object('order', new.id),
                               jsonb_build_object('key', 'order:' || new.id));
      return new;
    end $$;
    create trigger orders_enqueue_email after insert on "${schema}".orders
      for each row execute function "${schema}".orders_enqueue_email();`);
    const handled: number[] = [];
    const both = signal();
    q.work(async (job) => {
      if (handled.push(job.payload.order) === 2) both.resolve();
      return "emailed";
    });
    await admin.unsafe(`insert into "${schema}".orders (email) values ('a@b.c'), ('d@e.f')`);
    await within(both.promise, 5000, "both order emails");
    assert.deepEqual(handled.sort(), [1, 2]);
    // Rolled back: no order, no job.
    await admin
      .begin(async (tx) => {
        await tx.unsafe(`insert into "${schema}".orders (email) values ('rolled@back')`);
        throw new Error("rollback");
      })
      .catch(() => undefined);
    // Both orders' jobs, in whatever state their acks have reached; none for the rolled-back one.
    const stats = await q.stats();
    assert.equal(stats.queued + stats.running + stats.completed, 2, JSON.stringify(stats));
  },
);

dbTest(
  "SQL send validates like the client and raises pgwake's SQLSTATEs",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    await client.createQueue("q", { maxSize: 1 });
    const fails = async (sql: string, code: string, message: RegExp): Promise<void> => {
      await assert.rejects(admin.unsafe(sql), (e: { code?: string; message?: string }) => {
        assert.equal(e.code, code, e.message);
        assert.match(e.message ?? "", message);
        return true;
      });
    };
    const send = `"${schema}".send`;
    await fails(`select ${send}('bad name', 'null')`, "PW001", /queue name/);
    await fails(`select ${send}('missing', 'null')`, "PW002", /does not exist/);
    await fails(
      `select ${send}('q', 'null', '{"priority": 1.5}')`,
      "PW001",
      /priority to be an integer/,
    );
    await fails(`select ${send}('q', 'null', '{"delay": -1}')`, "PW001", /delay/);
    await fails(`select ${send}('q', 'null', '{"maxAttempts": 0}')`, "PW001", /maxAttempts/);
    await fails(`select ${send}('q', 'null', '{"prio": 1}')`, "PW001", /unknown option "prio"/);
    await fails(
      `select ${send}('q', 'null', '{"attributes": {"a": {}}}')`,
      "PW001",
      /attributes\.a to be a string, a finite number, a boolean or null, got an object: attributes are flat/,
    );
    // Lengths in UTF-16 units, as the client counts: 513 emoji are 1,026 units.
    for (const [value, length] of [
      ["x".repeat(1025), 1025],
      ["\u{1F600}".repeat(513), 1026],
    ] as const) {
      await fails(
        `select ${send}('q', 'null', '${JSON.stringify({ attributes: { a: value } })}')`,
        "PW001",
        new RegExp(`attributes\\.a is a string of ${length} characters, more than 1024`),
      );
    }
    await client.createQueue("roomy");
    for (const value of ["x".repeat(1024), "\u{1F600}".repeat(512)]) {
      const options = JSON.stringify({ attributes: { a: value } });
      const [sent] = await admin.unsafe(
        `select ${send}('roomy', 'null', '${options}')::text as id`,
      );
      assert.deepEqual((await client.job(sent!.id as string))?.attributes, { a: value });
    }
    await fails(
      `select ${send}('q', 'null', '{"after": ["0190a6f4-0000-7000-8000-00000000beef"]}')`,
      "PW004",
      /do not exist/,
    );
    const [first] = await admin.unsafe(
      `select ${send}('q', '1', '{"key": "k", "delay": "1 hour"}')::text as id`,
    );
    const [again] = await admin.unsafe(`select ${send}('q', '2', '{"key": "k"}')::text as id`);
    assert.equal(again!.id, first!.id, "a held key returns the holder");
    await fails(`select ${send}('q', '3')`, "PW003", /is full/);
    assert.deepEqual(await client.queue("q").stats(), {
      queued: 1,
      running: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
    });
  },
);

/**
 * A payload whose JSON (as JSON.stringify writes it) is exactly `bytes` long, with many `:` and
 * `,` (jsonb's text adds a space after each) and strings that need escapes or several bytes.
 */
function payloadOf(bytes: number): unknown {
  const items = Array.from({ length: 2000 }, (_, i) => ({ i, s: 'é"\\\n😀', ok: [true, null] }));
  const base = { items, pad: "" };
  const pad = bytes - Buffer.byteLength(JSON.stringify(base));
  assert.ok(pad >= 0, "the padding fits");
  return { items, pad: "x".repeat(pad) };
}

dbTest(
  "SQL send applies the client's payload limit: 1 MiB of JSON, or pgwake.max_payload_size",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("big");
    const send = `select "${schema}".send('big', $1::text::jsonb)::text as id`;
    const jobs = async () => (await q.stats()).queued;
    const refused = async (call: () => Promise<unknown>, message: RegExp): Promise<void> => {
      const before = await jobs();
      await assert.rejects(call(), (e: { code?: string; message?: string }) => {
        assert.equal(e.code, "PW001", e.message);
        assert.match(e.message ?? "", message);
        return true;
      });
      assert.equal(await jobs(), before, "nothing written");
    };
    const limit = 1024 * 1024;
    const exact = JSON.stringify(payloadOf(limit));
    const over = JSON.stringify(payloadOf(limit + 1));

    // The client's own verdicts, which SQL's must match.
    await q.send(JSON.parse(exact));
    await assert.rejects(q.send(JSON.parse(over)), ValidationError);

    const [row] = await admin.unsafe<Array<{ id: string }>>(send, [exact]);
    assert.deepEqual((await q.get(row!.id))?.payload, JSON.parse(exact), "stored unchanged");
    await refused(
      () => admin.unsafe(send, [over]),
      /^payload is 1048577 bytes of JSON, over the limit of 1048576: store large data elsewhere and send a reference, or raise pgwake\.max_payload_size$/,
    );

    // Raised, or lowered, for a transaction (or a role, a database) with the setting.
    await admin.begin(async (tx) => {
      await tx.unsafe(`set local pgwake.max_payload_size = '${limit + 1}'`);
      await tx.unsafe(send, [over]);
    });
    await refused(
      () =>
        admin.begin(async (tx) => {
          await tx.unsafe(`set local pgwake.max_payload_size = '10'`);
          await tx.unsafe(send, ['"0123456789"']);
        }),
      /payload is 12 bytes of JSON, over the limit of 10/,
    );
    await refused(
      () =>
        admin.begin(async (tx) => {
          await tx.unsafe(`set local pgwake.max_payload_size = '1 MB'`);
          await tx.unsafe(send, ["1"]);
        }),
      /expected setting pgwake\.max_payload_size to be a number of bytes from 1 up, got '1 MB'/,
    );
    assert.equal(await jobs(), 3);
  },
);

dbTest(
  "SQL send stores options in the client's normal form: integers written 1.0, after ids once each",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("norm");
    const [parent] = await admin.unsafe<Array<{ id: string }>>(
      `select "${schema}".send('norm', '1')::text as id`,
    );
    const upper = parent!.id.toUpperCase();
    const [row] = await admin.unsafe<Array<{ id: string }>>(
      `select "${schema}".send('norm', '2', $1::text::jsonb)::text as id`,
      [
        JSON.stringify({ priority: 1, maxAttempts: 3, after: [upper, parent!.id] })
          .replace('"priority":1', '"priority": 1.0')
          .replace('"maxAttempts":3', '"maxAttempts": 3.0'),
      ],
    );
    const [job] = await admin.unsafe(
      `select priority, max_attempts, after::text[] as after from "${schema}"._jobs where id = $1`,
      [row!.id],
    );
    assert.deepEqual({ ...job }, { priority: 1, max_attempts: 3, after: [parent!.id] });
    assert.equal((await q.get(row!.id))?.state, "queued");
  },
);

dbTest(
  "SQL's send() reads a delay written as digits in a string as milliseconds, as the client does",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    await client.createQueue("later");
    const delayOf = async (options: object): Promise<number> => {
      const [sent] = await admin.unsafe(
        `select "${schema}".send('later', 'null', $1::text::jsonb) as id`,
        [JSON.stringify(options)],
      );
      const [row] = await admin.unsafe(
        `select extract(epoch from run_at - created_at) * 1000 as ms from "${schema}"._jobs
         where id = $1`,
        [sent!.id],
      );
      return Number(row!.ms);
    };
    const client5s = await delayOf({ delay: 5000 });
    for (const [options, ms] of [
      [{ delay: "5000" }, 5000],
      [{ delay: "1500.4" }, 1500],
      [{ delay: "5 seconds" }, 5000],
      [{ delay: "1h" }, 3_600_000],
    ] as const) {
      const delay = await delayOf(options);
      assert.ok(Math.abs(delay - ms) < 50, `${JSON.stringify(options)}: ${delay} ms`);
    }
    assert.ok(Math.abs(client5s - 5000) < 50, `a number: ${client5s} ms`);
    // Numbers the client cannot read are refused, not read as an interval's seconds.
    for (const delay of [" 5", "+5", "5.", "-5"]) {
      await assert.rejects(
        admin.unsafe(`select "${schema}".send('later', 'null', $1::text::jsonb)`, [
          JSON.stringify({ delay }),
        ]),
        (e: { code?: string; message?: string }) =>
          e.code === "PW001" && /options\.delay/.test(e.message ?? ""),
        JSON.stringify(delay),
      );
      await assert.rejects(client.queue("later").send(null, { delay }), ValidationError);
    }
    const fromClient = await client.queue("later").send(null, { delay: "5000" });
    const [row] = await admin.unsafe(
      `select extract(epoch from run_at - created_at) * 1000 as ms from "${schema}"._jobs
       where id = $1`,
      [fromClient],
    );
    assert.ok(Math.abs(Number(row!.ms) - 5000) < 50, "the client agrees");
  },
);
