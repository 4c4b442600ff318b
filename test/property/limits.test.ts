/**
 * Limits: the payload and result size limit (`maxPayloadSize`, default 1 MiB) and the length of
 * attribute strings (1,024) at their exact boundaries, through every way in; schema names with odd characters, which pgwake interpolates
 * into its SQL (quoted, or refused); and HTTP errors that never show a stack trace or SQL.
 */
import assert from "node:assert/strict";
import {
  connect,
  ValidationError,
  type Client,
  type ConnectOptions,
  type Job,
} from "../../src/index.js";
import { quoteIdentifier } from "../../src/db/identifiers.js";
import { createHandler } from "../../src/server/handler.js";
import { serve } from "../../src/server/node.js";
import { apiFor } from "../helpers/api.js";
import { dbTest, within, type DbContext } from "../helpers/db.js";
import { assertPgwakeError, capture, countRows, table } from "./support.js";

const LIMIT = 1000;

/** A string whose JSON text (with its quotes) is exactly `bytes` long, in `char`s of one size. */
function jsonOfBytes(bytes: number, char = "x"): string {
  const size = Buffer.byteLength(char);
  assert.equal((bytes - 2) % size, 0, "the size must divide evenly");
  return char.repeat((bytes - 2) / size);
}

function assertTooLarge(error: unknown, field: string, bytes: number): void {
  assert.ok(error instanceof ValidationError, String(error));
  assert.equal(error.field, field);
  // What was wrong, what arrived, and what to do.
  assert.match(error.message, new RegExp(`${bytes} bytes of JSON, over the limit of ${LIMIT}`));
  assert.match(error.message, /maxPayloadSize/);
}

dbTest(
  "a payload of exactly maxPayloadSize bytes of JSON is sent; one byte more is refused with nothing written",
  async ({ connect, admin, schema, pool, defer }) => {
    const client = await connect({ maxPayloadSize: LIMIT });
    const q = await client.createQueue("sized");
    const count = () => countRows(admin, schema, "_jobs");
    for (const char of ["x", "é", "€", "😀"]) {
      const fits = jsonOfBytes(LIMIT - ((LIMIT - 2) % Buffer.byteLength(char)), char);
      const id = await q.send(fits);
      assert.equal((await client.job(id))?.payload, fits, `${char}: the largest payload that fits`);
    }
    const before = await count();
    // Multi-byte characters count as bytes: 500 characters are 1002 bytes here.
    const cases: Array<[string, number]> = [
      [jsonOfBytes(LIMIT + 1), LIMIT + 1],
      [jsonOfBytes(LIMIT + 2, "é"), LIMIT + 2],
    ];
    for (const [payload, bytes] of cases) {
      const sent = await capture(q.send(payload));
      assert.ok(!sent.ok);
      assertTooLarge(sent.error, "payload", bytes);
      const many = await capture(q.sendMany([{ payload: 1 }, { payload }]));
      assert.ok(!many.ok);
      assertTooLarge(many.error, "sendMany items[1].payload", bytes);
      const { sql } = pool();
      const inTx = await capture(sql.begin(async (tx) => q.send(payload, { tx: tx as never })));
      assert.ok(!inTx.ok);
      assertTooLarge(inTx.error, "payload", bytes);
      const scheduled = await capture(
        client.schedule("big", { queue: "sized", every: "1h", payload }),
      );
      assert.ok(!scheduled.ok);
      assertTooLarge(scheduled.error, "schedule options.payload", bytes);
    }
    assert.equal(await count(), before, "nothing written");
    assert.equal((await client.schedules()).length, 0);

    // Over HTTP: the same limit (the body limit is a separate, larger one).
    const api = apiFor(client, defer);
    const response = await api.call("POST", "/api/queues/sized/jobs", {
      payload: jsonOfBytes(LIMIT + 1),
    });
    assert.equal(response.status, 400);
    assert.equal(response.body.error.code, "VALIDATION");
    assert.match(response.body.error.message, /over the limit of 1000/);
    assert.equal(await count(), before);
  },
);

dbTest(
  "an attribute string of exactly 1,024 characters is stored; 1,025 is refused with nothing written, everywhere",
  async ({ connect, admin, schema, defer }) => {
    const client = await connect();
    const q = await client.createQueue("tagged");
    const count = () => countRows(admin, schema, "_jobs");
    // UTF-16 units, as JavaScript counts: 512 emoji are 1,024 units (and 2,048 bytes).
    const fits = ["x".repeat(1024), "\u{1F600}".repeat(512)];
    const over = ["x".repeat(1025), "\u{1F600}".repeat(513)];
    const sqlSend = `select ${table(schema, "send")}('tagged', '1', $1::text::jsonb)::text as id`;
    const api = apiFor(client, defer);
    for (const value of fits) {
      const attributes = { region: value };
      const ids = [
        await q.send(1, { attributes }),
        ...(await q.sendMany([{ payload: 2, options: { attributes } }])),
        (await api.call("POST", "/api/queues/tagged/jobs", { payload: 3, options: { attributes } }))
          .body.id as string,
        (
          (await admin.unsafe(sqlSend, [JSON.stringify({ attributes })])) as Array<{ id: string }>
        )[0]!.id,
      ];
      for (const id of ids) assert.deepEqual((await client.job(id))?.attributes, attributes);
      await client.schedule("fits", { queue: "tagged", every: "1h", options: { attributes } });
    }

    const before = await count();
    for (const value of over) {
      const attributes = { region: value };
      const message = new RegExp(
        `attributes\\.region is a string of ${value.length} characters, more than 1024: .*payload`,
      );
      const refusals = [
        capture(q.send(1, { attributes })),
        capture(q.sendMany([{ payload: 1 }, { payload: 2, options: { attributes } }])),
        capture(client.schedule("over", { queue: "tagged", every: "1h", options: { attributes } })),
      ];
      for (const outcome of await Promise.all(refusals)) {
        assert.ok(
          !outcome.ok && outcome.error instanceof ValidationError,
          outcome.ok ? "sent" : String(outcome.error),
        );
        assert.match(outcome.error.field, /attributes\.region$/);
        assert.match(outcome.error.message, message);
      }
      for (const body of [
        { payload: 1, options: { attributes } },
        { jobs: [{ payload: 1 }, { payload: 2, options: { attributes } }] },
      ]) {
        const response = await api.call("POST", "/api/queues/tagged/jobs", body);
        assert.equal(response.status, 400, response.text);
        assert.equal(response.body.error.code, "VALIDATION");
        assert.match(response.body.error.message, message);
      }
      const sql = await capture(admin.unsafe(sqlSend, [JSON.stringify({ attributes })]));
      assert.ok(!sql.ok);
      const error = sql.error as { code?: string; message?: string };
      assert.equal(error.code, "PW001", error.message);
      assert.match(error.message ?? "", message);
    }
    assert.equal(await count(), before, "nothing written");
    assert.deepEqual(
      (await client.schedules()).map((schedule) => schedule.name),
      ["fits"],
    );
  },
);

dbTest(
  "a result of exactly maxPayloadSize bytes is stored; one more is refused and the job stays held",
  async ({ connect, defer }) => {
    const client = await connect({ maxPayloadSize: LIMIT });
    const q = await client.createQueue<string, string>("results");
    const id = await q.send("work");
    const loop = q.receive();
    const job = (await loop.next()).value as Job<string, string>;
    const refused = await capture(job.ack(jsonOfBytes(LIMIT + 1)));
    assert.ok(!refused.ok);
    assertTooLarge(refused.error, "result", LIMIT + 1);
    assert.equal((await q.get(id))?.state, "running", "the refused ack changed nothing");
    await job.ack(jsonOfBytes(LIMIT));
    assert.equal((await q.get(id))?.result, jsonOfBytes(LIMIT));
    await loop.return(undefined);

    // A remote worker's ack and nack, over HTTP.
    const api = apiFor(client, defer);
    const remoteId = await q.send("remote");
    const { body } = await api.call("POST", "/api/queues/results/claim", {});
    const [lease] = body.jobs as Array<{ id: string; leaseToken: string }>;
    assert.equal(lease?.id, remoteId);
    for (const [action, field, value] of [
      ["ack", "result", jsonOfBytes(LIMIT + 1)],
      ["nack", "error", jsonOfBytes(LIMIT + 1)],
      ["nack", "error", { message: jsonOfBytes(LIMIT) }],
    ] as const) {
      const response = await api.call("POST", `/api/jobs/${remoteId}/${action}`, {
        token: lease!.leaseToken,
        [field]: value,
      });
      assert.equal(response.status, 400, `${action} with a ${field} over the limit`);
      assert.match(response.body.error.message, /over the limit of 1000/);
      assert.equal((await q.get(remoteId))?.state, "running");
    }
    const acked = await api.call("POST", `/api/jobs/${remoteId}/ack`, {
      token: lease!.leaseToken,
      result: jsonOfBytes(LIMIT),
    });
    assert.equal(acked.status, 200);
  },
);

dbTest("the default limit is 1 MiB, and the limit must be a positive integer", async (ctx) => {
  const client = await ctx.connect();
  const q = await client.createQueue("default-limit");
  const mib = 1024 * 1024;
  const id = await q.send(jsonOfBytes(mib));
  assert.equal((await q.get(id))?.payload, jsonOfBytes(mib), "exactly 1 MiB of JSON fits");
  const over = await capture(q.send(jsonOfBytes(mib + 1)));
  assert.ok(!over.ok && over.error instanceof ValidationError);
  assert.match(over.error.message, /1048577 bytes of JSON, over the limit of 1048576/);
  for (const maxPayloadSize of [0, -1, 1.5, NaN, "1mb"]) {
    const refused = await capture(
      connect({ url: ctx.url, schema: ctx.schema, maxPayloadSize } as ConnectOptions),
    );
    assert.ok(!refused.ok && refused.error instanceof ValidationError, String(maxPayloadSize));
    assert.equal(refused.error.field, "connect options.maxPayloadSize");
  }
});

// --- schema names ------------------------------------------------------------------------------

/** A client on `schema` (created by its migration) that drops the schema when the test ends. */
async function connectTo(
  ctx: DbContext,
  schema: string,
  options: Partial<ConnectOptions> = {},
): Promise<Client> {
  ctx.defer(() => ctx.admin.unsafe(`drop schema if exists ${quoteIdentifier(schema)} cascade`));
  const client = await connect({ url: ctx.url, schema, pollInterval: false, ...options });
  ctx.defer(() => client.close({ timeout: 1000 }));
  return client;
}

/**
 * Everything that puts the schema name into SQL: migrations (identifiers, string literals,
 * channel names), the runtime statements, the bounded queue's lock key, dead-lettering, filtered
 * claims, NOTIFY and LISTEN (a completion must arrive), and schedules.
 */
async function exercise(client: Client): Promise<void> {
  const q = await client.createQueue<string, string>("q", {
    maxSize: 10,
    maxAttempts: 1,
    deadLetter: "q-dead",
  });
  q.work(async (job) => {
    if (job.payload === "fail") throw new Error("as asked");
    return `done ${job.payload}`;
  });
  assert.equal(
    await within(q.send("a", { attributes: { k: "v" } }).completed, 10_000, "a"),
    "done a",
  );
  await assert.rejects(within(q.send("fail").completed, 10_000, "fail"), /failed after 1 attempt/);
  assert.equal((await client.queue("q-dead").stats()).queued, 1, "dead-lettered");
  await client.schedule("tick", { queue: "q", every: "1h" });
  assert.equal((await client.schedules()).length, 1);
  assert.deepEqual((await client.health()).ok, true);
}

dbTest(
  "schema names with quotes, spaces, unicode, upper case and SQL in them work, each fully isolated",
  async (ctx) => {
    const stamp = `${Date.now() % 1e8}`;
    const names = [
      `pg"wake; x ${stamp}`,
      `PgWake_${stamp}`,
      `pgwake_${stamp}`, // differs from the one above only in case: another installation
      `pg wake ${stamp}`,
      `pg'wake ${stamp}`,
      `pgwaké ünï 名前 ${stamp}`,
      `pg:wake:ready ${stamp}`, // looks like a channel name
      `${"é".repeat(23)}${stamp}`, // 54 bytes, the longest allowed
    ];
    const clients = new Map<string, Client>();
    for (const schema of names) {
      assert.ok(Buffer.byteLength(schema) <= 54, schema);
      const client = await connectTo(ctx, schema);
      await exercise(client);
      clients.set(schema, client);
    }
    // Isolation: each schema saw exactly its own jobs (2 sent, 1 dead-lettered) and schedule.
    for (const [schema, client] of clients) {
      const [row] = await ctx.admin.unsafe(
        `select count(*)::int as n from ${table(schema, "_jobs")}`,
      );
      assert.equal(row!.n, 3, `${schema}: only its own jobs`);
      assert.deepEqual(
        (await client.queues()).map((q) => q.name),
        ["q", "q-dead"],
      );
    }
  },
  { timeout: 120_000 },
);

dbTest(
  "a schema name built to break out of its quotes is quoted everywhere: nothing else is touched",
  async (ctx) => {
    // A canary table a broken quote would drop.
    const canary = `pwc${Date.now() % 1e8}`;
    await ctx.admin.unsafe(`create schema ${canary}; create table ${canary}.t (x int)`);
    ctx.defer(() => ctx.admin.unsafe(`drop schema if exists ${canary} cascade`));
    const attacks = [
      `x"; drop table ${canary}.t; --`,
      `x'; drop table ${canary}.t; --`,
      `x"._jobs; drop table ${canary}.t --`,
      `x\\'; drop table ${canary}.t; --`,
    ];
    for (const schema of attacks) await exercise(await connectTo(ctx, schema));
    // Backslashes, with standard_conforming_strings off (a user's own postgres.js may set it):
    // a plain literal would end at `\'` there.
    const { sql } = ctx.pool({
      connection: { standard_conforming_strings: "off" } as never,
    });
    const [setting] = await sql`show standard_conforming_strings`;
    assert.equal(setting!.standard_conforming_strings, "off");
    await exercise(await connectTo(ctx, `pg\\wake\\ ${canary}\\`, { sql: sql as never }));
    await exercise(await connectTo(ctx, `y\\'; drop table ${canary}.t; --`, { sql: sql as never }));
    const [row] = await ctx.admin.unsafe(`select to_regclass('${canary}.t') is not null as there`);
    assert.equal(row!.there, true, "the canary table is still there");
  },
  { timeout: 120_000 },
);

dbTest(
  "schema names PostgreSQL or NOTIFY cannot hold are refused before anything is created",
  async ({ url, admin }) => {
    for (const schema of [
      "",
      "pg$wake",
      "$$",
      "pg\u0000wake",
      "s".repeat(55),
      "é".repeat(28), // 56 bytes
    ]) {
      const refused = await capture(connect({ url, schema, pollInterval: false }));
      assert.ok(!refused.ok, JSON.stringify(schema));
      assertPgwakeError(refused.error, JSON.stringify(schema));
      assert.ok(refused.error instanceof ValidationError);
      assert.equal(refused.error.field, "connect options.schema");
      const found =
        await admin`select 1 from pg_namespace where nspname = ${schema.replace("\u0000", "")}`;
      assert.equal(found.length, 0, "no schema was created");
    }
  },
);

// --- HTTP errors -------------------------------------------------------------------------------

const SECRET = "select secret from hidden_table";

dbTest(
  "HTTP 5xx answers carry no stack trace and no SQL, in-process and over a socket",
  async ({ connect, admin, schema, defer }) => {
    const client = await connect();
    await client.createQueue("q");
    const reported: unknown[] = [];
    const handler = createHandler(client, {
      metrics: {
        contentType: "text/plain",
        render: () => Promise.reject(new Error(`${SECRET} failed`)),
      },
      onError: (error) => reported.push(error),
    });
    defer(() => handler.close());
    const check = async (response: Response, status: number, code: string) => {
      const text = await response.text();
      assert.equal(response.status, status, text);
      assert.match(response.headers.get("content-type") ?? "", /application\/json/);
      const body = JSON.parse(text) as { error: { code: string; message: string } };
      assert.equal(body.error.code, code);
      assert.match(body.error.message, /see (the server's|its) log/);
      for (const leak of [SECRET, schema, "_jobs", " at ", ".ts:", "select "]) {
        assert.ok(!text.includes(leak), `the answer shows ${JSON.stringify(leak)}: ${text}`);
      }
    };

    // An unexpected error inside a route: 500, and the details go to onError.
    await check(await handler(new Request("http://x/metrics")), 500, "INTERNAL");
    assert.match(String(reported.at(-1)), /hidden_table/, "the log gets the details");

    // The database refuses a statement: 503, with the same discretion.
    await admin.unsafe(`alter table ${table(schema, "_jobs")} rename to _jobs_away`);
    try {
      await check(await handler(new Request("http://x/api/jobs")), 503, "DATABASE");
      assert.match(String(reported.at(-1)), /_jobs/, "the log gets the SQL error");
    } finally {
      await admin.unsafe(`alter table ${table(schema, "_jobs_away")} rename to _jobs`);
    }

    // The same through the node:http adapter.
    const server = await serve(handler, { port: 0 });
    defer(() => server.close());
    await check(await fetch(`${server.url}/metrics`), 500, "INTERNAL");
    const notFound = await fetch(`${server.url}/api/jobs/${"%ZZ"}`);
    assert.equal(notFound.status, 404);
  },
);
