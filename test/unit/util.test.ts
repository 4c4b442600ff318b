import assert from "node:assert/strict";
import { test } from "node:test";
import { renderSql } from "../../src/db/sql-files.js";
import { MAX_SCHEMA_BYTES, channelName } from "../../src/notify/channels.js";
import { Coalescer } from "../../src/util/coalescer.js";
import { isUuid, uuidv7 } from "../../src/util/uuid.js";

test("uuidv7: version 7, variant 10, ordered by time", () => {
  const a = uuidv7(1_700_000_000_000);
  const b = uuidv7(1_700_000_000_001);
  assert.ok(isUuid(a) && isUuid(b));
  assert.equal(a[14], "7");
  assert.match(a[19]!, /[89ab]/);
  assert.ok(a < b);
  assert.equal(parseInt(a.replace(/-/g, "").slice(0, 12), 16), 1_700_000_000_000);
  const many = Array.from({ length: 10_000 }, () => uuidv7());
  assert.equal(new Set(many).size, 10_000);
  assert.deepEqual(
    [...many].sort(),
    many,
    "strictly increasing within a process, even within a millisecond",
  );
});

test("renderSql keeps $ patterns in a schema name literal", () => {
  assert.equal(
    renderSql("select 1 from /*schema*/_jobs", "a$&b$'c"),
    `select 1 from "a$&b$'c"._jobs`,
  );
});

test("renderSql quotes the schema as an identifier and channels as literals", () => {
  const sql =
    "select * from /*schema*/_jobs; select pg_notify(/*literal:channel:ready*/'pgwake:ready', 'x')";
  assert.equal(
    renderSql(sql, `we"ird 'schema`),
    `select * from "we""ird 'schema"._jobs; select pg_notify('we"ird ''schema:ready', 'x')`,
  );
});

test("every channel of the longest allowed schema fits in 63 bytes", () => {
  const schema = "s".repeat(MAX_SCHEMA_BYTES);
  for (const kind of ["ready", "done"] as const)
    assert.ok(Buffer.byteLength(channelName(schema, kind)) <= 63);
});

test("Coalescer merges calls of one event-loop turn into one run, in order", async () => {
  const runs: number[][] = [];
  const c = new Coalescer<number, number>(
    async (items) => {
      runs.push(items);
      return items.map((n) =>
        n < 0
          ? { ok: false as const, error: new Error(`negative ${n}`) }
          : { ok: true as const, value: n * 2 },
      );
    },
    { maxBatch: 3, maxInFlight: 2 },
  );
  const results = await Promise.allSettled([1, 2, -3, 4, 5].map((n) => c.push(n)));
  assert.deepEqual(runs, [
    [1, 2, -3],
    [4, 5],
  ]);
  assert.deepEqual(
    results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message)),
    [2, 4, "negative -3", 8, 10],
  );
  await c.drain();
  assert.equal(c.size, 0);
});

test("Coalescer rejects every item of a run that throws", async () => {
  const c = new Coalescer<number, number>(async () => Promise.reject(new Error("down")), {
    maxBatch: 10,
    maxInFlight: 1,
  });
  const results = await Promise.allSettled([c.push(1), c.push(2)]);
  assert.deepEqual(
    results.map((r) => r.status),
    ["rejected", "rejected"],
  );
});

test("Coalescer keeps a statement within its weight budget; a heavy item goes alone", async () => {
  const runs: string[][] = [];
  const c = new Coalescer<string, string>(
    async (items) => {
      runs.push(items);
      return items.map((value) => ({ ok: true as const, value }));
    },
    { maxBatch: 100, maxInFlight: 1, weigh: (item) => item.length, maxWeight: 10 },
  );
  await Promise.all(["aaaa", "bbbb", "cccc", "x".repeat(50), "dd"].map((item) => c.push(item)));
  assert.deepEqual(runs, [["aaaa", "bbbb"], ["cccc"], ["x".repeat(50)], ["dd"]]);
});
