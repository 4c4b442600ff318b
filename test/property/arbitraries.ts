/**
 * Hostile inputs for the property tests, and the oracle that says which of them PostgreSQL can
 * store, written from the documented rules (README, "Sending"), not from the code that checks
 * them. Not a test file.
 */
import fc from "fast-check";

/** Text that has broken SQL, JSON or string handling somewhere. */
export const SQL_LOOKING = [
  "'; drop table x; --",
  "'); delete from pgwake._jobs; --",
  '"; drop schema public cascade; --',
  "' or '1'='1",
  "$$",
  "$1",
  "$tag$",
  "\\",
  "\\'",
  "'",
  '"',
  "E'\\x00'",
  "\\u0000",
  "%s %n %x",
  "${x}",
  "/*",
  "*/",
  "--",
  ";",
  "select pg_sleep(10)",
  "null",
  "NaN",
  "1e400",
  "-0",
  "__proto__",
  "constructor",
  "toString",
] as const;

/** Code units that databases, JSON and terminals treat specially. */
export const ODD_CHARACTERS = [
  "\u0000",
  "\ud800",
  "\udfff",
  "\udc00\ud800",
  "\ud83d\ude00",
  "\u2028",
  "\ufeff",
  "\u200b",
  "\x7f",
  "\x1b[31m",
  "\n",
  "\r\n",
  "\t",
  "é",
  "ß",
  "\uffff",
  "𝕏",
] as const;

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...SQL_LOOKING, ...ODD_CHARACTERS, ""),
  fc
    .array(
      fc.oneof(
        fc.constantFrom(...SQL_LOOKING, ...ODD_CHARACTERS),
        fc.string({ maxLength: 6, unit: "binary" }),
      ),
      { minLength: 1, maxLength: 5 },
    )
    .map((parts) => parts.join("")),
);

/** What jsonb cannot hold in a string: NUL, and lone UTF-16 surrogates (not Unicode at all). */
export function storableString(text: string): boolean {
  return !text.includes("\u0000") && text.isWellFormed();
}

/** Numbers whose JSON form has tripped up parsers or the jsonb numeric type. */
const oddNumber = fc.constantFrom(
  -0,
  1e308,
  -1e308,
  5e-324,
  Number.MAX_SAFE_INTEGER + 2,
  0.1 + 0.2,
  1e21,
  -1e-7,
  2 ** 31,
);

/** Values JSON (or jsonb) cannot hold, or would silently turn into something else. */
const unstorable = fc.constantFrom<unknown>(
  NaN,
  Infinity,
  -Infinity,
  undefined,
  10n,
  Symbol("s"),
  () => 1,
  new Map([[1, 2]]),
  new Set([1]),
  /re/,
  new Uint8Array(2),
  new Error("e"),
);

const leaf: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 1, arbitrary: oddNumber },
  { weight: 1, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom(true, false, null) },
  { weight: 1, arbitrary: fc.date({ noInvalidDate: false }) },
  { weight: 1, arbitrary: unstorable },
);

const key = fc.oneof(hostileString, fc.constantFrom("__proto__", "constructor", "", "a", "a"));

/**
 * A payload: a small tree of hostile leaves. Objects are built with `Object.fromEntries`, so a
 * `"__proto__"` key is an own property, as `JSON.parse` makes it.
 */
export const hostileValue: fc.Arbitrary<unknown> = fc.letrec<{ node: unknown }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leaf,
    fc.array(tie("node"), { maxLength: 4 }),
    fc.array(fc.tuple(key, tie("node")), { maxLength: 4 }).map((e) => Object.fromEntries(e)),
  ),
})).node;

/** The same, without the values JSON or jsonb refuse: every one of these must be stored. */
export const cleanValue: fc.Arbitrary<unknown> = fc
  .jsonValue({ maxDepth: 3 })
  .map((value) => JSON.parse(JSON.stringify(value)) as unknown);

const MAX_DEPTH = 1000;

/**
 * Whether pgwake must store `value` as a payload (and give back `JSON.parse(JSON.stringify(value))`):
 * JSON values, with `toJSON` applied and object properties that are `undefined` left out; not
 * functions, symbols, BigInt, cycles, `undefined` (at the top or in arrays), NaN or Infinity,
 * Map, Set, RegExp, Error, binary data, NUL or lone surrogates, nor more than 1000 levels deep.
 */
export function storable(value: unknown, depth = 0, parents = new Set<object>()): boolean {
  switch (typeof value) {
    case "string":
      return storableString(value);
    case "number":
      return Number.isFinite(value);
    case "boolean":
      return true;
    case "object":
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (depth >= MAX_DEPTH) return false;
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === "function") return storable(toJSON.call(value, ""), depth, parents);
  const lossy = [Map, Set, WeakMap, WeakSet, RegExp, Promise, Error, ArrayBuffer];
  if (lossy.some((type) => value instanceof type) || ArrayBuffer.isView(value)) return false;
  if (parents.has(value)) return false;
  parents.add(value);
  const ok = Array.isArray(value)
    ? value.every((item) => storable(item, depth + 1, parents))
    : Object.entries(value).every(
        ([k, v]) => storableString(k) && (v === undefined || storable(v, depth + 1, parents)),
      );
  parents.delete(value);
  return ok;
}

/** An option value and whether the contract says it must be accepted (undefined: not fixed). */
export interface Tagged {
  value: unknown;
  valid: boolean | undefined;
}

const valid = (value: unknown): Tagged => ({ value, valid: true });
const refused = (value: unknown): Tagged => ({ value, valid: false });

/** Priorities: any 32-bit integer. */
export const priority: fc.Arbitrary<Tagged> = fc.oneof(
  fc.integer().map(valid),
  fc.constantFrom(0, -0, 2 ** 31 - 1, -(2 ** 31)).map(valid),
  fc
    .constantFrom<unknown>(
      NaN,
      Infinity,
      -Infinity,
      1.5,
      2 ** 31,
      -(2 ** 31) - 1,
      "1",
      null,
      true,
      1e300,
    )
    .map(refused),
);

/** Delays: milliseconds (0 or more) or an `ms` string, at most 100 years. */
export const delay: fc.Arbitrary<Tagged> = fc.oneof(
  fc.constantFrom(0, 1, 1000, "5m", "1h", "100ms", "7d", "1 year").map(valid),
  fc
    .constantFrom<unknown>(
      -1,
      NaN,
      Infinity,
      -Infinity,
      1e300,
      "abc",
      "",
      "-5s",
      "1000 years",
      "5 parsecs",
      null,
      {},
    )
    .map(refused),
  fc
    .constantFrom<unknown>(-0, 0.5, "1e3", " 5s", "5 m", "1.5h")
    .map((value) => ({ value, valid: undefined })),
);

/** Dedup keys: 1-512 characters that PostgreSQL can store. */
export const dedupKey: fc.Arbitrary<Tagged> = fc.oneof(
  hostileString.map((value) => ({
    value,
    valid: value.length >= 1 && value.length <= 512 && storableString(value),
  })),
  fc.constantFrom<unknown>(1, null, "k".repeat(513), ["a"]).map(refused),
  fc.constant("k".repeat(512)).map(valid),
);

/** Attribute values: flat strings of at most 1,024 UTF-16 units, finite numbers, booleans and nulls. */
const attributeValue: fc.Arbitrary<Tagged> = fc.oneof(
  hostileString.map((value) => ({ value, valid: storableString(value) })),
  fc.constantFrom("v".repeat(1024), "\u{1F600}".repeat(512)).map(valid),
  fc.constantFrom("v".repeat(1025), "\u{1F600}".repeat(513)).map(refused),
  fc.oneof(oddNumber, fc.integer(), fc.constantFrom(true, false, null)).map(valid),
  fc.constantFrom<unknown>(NaN, Infinity, undefined, [1], { a: 1 }, 10n, new Date(0)).map(refused),
);

/** Attributes (and filters): at most 64 keys of 1-128 characters, flat values of limited length. */
export const attributes: fc.Arbitrary<Tagged> = fc
  .array(fc.tuple(fc.oneof(key, fc.constant("k".repeat(129))), attributeValue), { maxLength: 4 })
  .map((entries) => ({
    value: Object.fromEntries(entries.map(([k, v]) => [k, v.value])),
    valid: entries.every(
      ([k]) =>
        k.length >= 1 &&
        k.length <= 128 &&
        storableString(k) &&
        // a later entry with the same key wins, as in the object
        (entries.findLast(([other]) => other === k)![1].valid ?? false),
    ),
  }));

export const maxAttempts: fc.Arbitrary<Tagged> = fc.oneof(
  fc.constantFrom(1, 5, 2 ** 31 - 1).map(valid),
  fc.constantFrom<unknown>(0, -1, 1.5, NaN, Infinity, "3", 2 ** 31).map(refused),
);

/** Queue names: 1-128 letters, digits and `_ - . :`. */
export const QUEUE_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

export const queueName: fc.Arbitrary<string> = fc.oneof(
  hostileString,
  fc.stringMatching(/^[A-Za-z0-9_.:-]{1,20}$/),
  fc.constantFrom("q".repeat(128), "q".repeat(129), "a b", "../etc", "Q", "a:b.c-d_e", "é"),
);

/** The first of `tagged` that decides: false if any is refused, else undefined if any is open. */
export function verdict(tagged: Tagged[]): boolean | undefined {
  if (tagged.some((t) => t.valid === false)) return false;
  return tagged.every((t) => t.valid === true) ? true : undefined;
}

/** A readable form of a generated value for failure messages (strings show their escapes). */
export function show(value: unknown): string {
  try {
    return (
      JSON.stringify(value, (_k, v: unknown) =>
        typeof v === "bigint"
          ? `${v}n`
          : typeof v === "number" && !Number.isFinite(v)
            ? String(v)
            : v === undefined
              ? "undefined"
              : v,
      ) ?? String(value)
    );
  } catch {
    try {
      return String(value);
    } catch {
      return "(a value that cannot be printed)";
    }
  }
}
