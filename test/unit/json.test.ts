import assert from "node:assert/strict";
import { test } from "node:test";
import { ValidationError } from "../../src/index.js";
import { toJsonText } from "../../src/util/json.js";

function refused(value: unknown, path: RegExp, why: RegExp): void {
  assert.throws(
    () => toJsonText(value, "payload"),
    (error: unknown) =>
      error instanceof ValidationError && path.test(error.field) && why.test(error.message),
  );
}

test("JSON values are serialised as JSON.stringify does", () => {
  for (const value of [
    null,
    true,
    0,
    -1.5,
    "",
    "text ✓ 😀",
    [],
    {},
    [1, "a", null, { b: [true] }],
    { a: { b: { c: 1 } } },
  ]) {
    assert.equal(toJsonText(value, "payload"), JSON.stringify(value));
  }
  assert.equal(toJsonText({ a: 1, skipped: undefined }, "payload"), '{"a":1}');
  const date = new Date("2026-01-01T00:00:00Z");
  assert.equal(toJsonText({ at: date }, "payload"), '{"at":"2026-01-01T00:00:00.000Z"}');
});

test("what JSON or jsonb cannot hold is refused with its path", () => {
  refused(undefined, /^payload$/, /undefined/);
  refused(() => 1, /^payload$/, /function/);
  refused({ f: () => 1 }, /payload\.f/, /function/);
  refused({ n: 10n }, /payload\.n/, /BigInt/);
  refused([1, undefined], /payload\[1\]/, /undefined/);
  refused({ s: Symbol("x") }, /payload\.s/, /symbol/);
  refused({ x: Number.NaN }, /payload\.x/, /NaN/);
  refused({ x: Number.POSITIVE_INFINITY }, /payload\.x/, /Infinity/);
  refused({ m: new Map() }, /payload\.m/, /Map/);
  refused({ s: new Set([1]) }, /payload\.s/, /Set/);
  refused({ b: new Uint8Array(2) }, /payload\.b/, /binary/);
  refused({ t: "a\u0000b" }, /payload\.t/, /NUL/);
  refused({ ["k\u0000"]: 1 }, /payload key/, /NUL/);
  refused({ t: "\ud800" }, /payload\.t/, /surrogate/);
  const cycle: Record<string, unknown> = { a: 1 };
  cycle.self = cycle;
  refused(cycle, /payload\.self/, /cycle/);
});

test("shared (non-cyclic) references are fine", () => {
  const shared = { x: 1 };
  assert.equal(toJsonText({ a: shared, b: shared }, "payload"), '{"a":{"x":1},"b":{"x":1}}');
});

test("deep nesting and size are bounded", () => {
  let deep: unknown = 1;
  for (let i = 0; i < 1500; i++) deep = [deep];
  refused(deep, /payload/, /deeper than 1000/);
  assert.throws(
    () => toJsonText("x".repeat(2000), "payload", 1000),
    (error: unknown) =>
      error instanceof ValidationError &&
      /2002 bytes of JSON, over the limit of 1000/.test(error.message),
  );
});

test("plain data takes the quick check; what it cannot vouch for gets the full one, same verdicts", () => {
  // The quick check passes only arrays and objects of Array's, Object's or no prototype; every
  // other value is walked in full, so each of these must come out as JSON.stringify has it.
  const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: [1, { b: 2 }] });
  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
  }
  const withToJson = { toJSON: () => ({ replaced: true }) };
  const inherited = Object.assign(Object.create({ hidden: 1 }) as Record<string, unknown>, {
    own: 2,
  });
  for (const value of [bare, new Point(1, 2), withToJson, inherited, [new Point(3, 4)]]) {
    assert.equal(toJsonText(value, "payload"), JSON.stringify(value));
  }
  // Problems below plain data are found at any depth, with their path.
  refused({ a: [{ b: [1, { c: 10n }] }] }, /payload\.a\[0\]\.b\[1\]\.c/, /BigInt/);
  refused([{ a: 1 }, { b: [undefined] }], /payload\[1\]\.b\[0\]/, /undefined/);
  refused(Object.assign(Object.create(null) as object, { k: "\ud800" }), /payload\.k/, /surrogate/);
  // Binary data is refused whatever prototype it was given.
  refused(Object.setPrototypeOf(new Uint8Array([1, 2]), Object.prototype), /^payload$/, /binary/);
  refused(
    { d: Object.setPrototypeOf(new DataView(new ArrayBuffer(4)), null) as object },
    /payload\.d/,
    /binary/,
  );
  // A cycle stops the quick walk where it closes: what comes before the back-reference is read
  // once by each walk, not once per lap up to the depth limit.
  let reads = 0;
  const lapped: Record<string, unknown> = {};
  Object.defineProperty(lapped, "data", {
    enumerable: true,
    get: () => (reads++, [1, 2, 3]),
  });
  lapped.self = lapped;
  refused(lapped, /payload\.self/, /cycle/);
  assert.equal(reads, 2, "the getter before the cycle was read once by each walk");
  const longCycle: Record<string, unknown> = { a: { b: { c: {} } } };
  (longCycle.a as { b: { c: Record<string, unknown> } }).b.c.back = longCycle;
  refused(longCycle, /payload\.a\.b\.c\.back/, /cycle/);
});
