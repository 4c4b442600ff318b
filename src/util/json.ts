import { ValidationError } from "../errors.js";

/** A JSON value as pgwake stores it. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Deeper than this is refused: PostgreSQL's jsonb parser recurses and would fail mid-batch. */
export const MAX_JSON_DEPTH = 1000;

/** Objects whose JSON form silently loses their contents. */
const LOSSY: Array<[new (...args: never[]) => unknown, string]> = [
  [Map, "a Map (convert it with Object.fromEntries)"],
  [Set, "a Set (convert it with Array.from)"],
  [WeakMap, "a WeakMap"],
  [WeakSet, "a WeakSet"],
  [RegExp, "a RegExp (store its source string)"],
  [Promise, "a Promise (await it first)"],
  [Error, "an Error (store { message, stack } instead)"],
];

/**
 * Serialises a value to JSON text, or throws a {@link ValidationError} naming the exact path of
 * the first part that JSON (or PostgreSQL's jsonb) cannot hold: functions, symbols, BigInt,
 * cycles, `undefined` (top level or in arrays), NaN and Infinity, NUL characters, lone UTF-16
 * surrogates, and objects such as Map and Set that would silently turn into `{}`.
 * Object properties whose value is `undefined` are left out, as `JSON.stringify` does.
 */
export function toJsonText(
  value: unknown,
  field: string | (() => string),
  maxBytes?: number,
): string {
  // Most values are plain data, which `isPlainJson` vouches for without building a path per
  // property (a fifth of a bulk send's client time went to those strings). Anything else, and
  // anything wrong, takes the full walk, which names the path of what is wrong. (A getter is
  // then read by both walks and by JSON.stringify: one that answers differently each time can
  // get past the checks, as it could before.)
  if (!isPlainJson(value, [])) checkJson(value, nameOf(field), new Set(), 0);
  const text = JSON.stringify(value);
  if (maxBytes !== undefined) {
    const bytes = Buffer.byteLength(text);
    if (bytes > maxBytes) {
      const name = nameOf(field);
      throw new ValidationError(
        name,
        `${name} is ${bytes} bytes of JSON, over the limit of ${maxBytes}: store large data elsewhere and send a reference, or raise maxPayloadSize`,
      );
    }
  }
  return text;
}

/** A field's name, made only when needed (`sendMany` would otherwise make one per job). */
function nameOf(field: string | (() => string)): string {
  return typeof field === "string" ? field : field();
}

/**
 * Whether a value is plain JSON data that `checkJson` would pass: primitives it accepts, arrays
 * and objects whose prototype is Array's, Object's or null, with no `toJSON` and no binary data
 * behind them. False for anything else, including values `checkJson` would pass (a Date), which
 * it then checks. `ancestors` holds the objects above `value`: an array, not `checkJson`'s set,
 * since payloads are shallow and scanning a few entries is cheaper than hashing; a cycle is
 * false at once (walking round it to the depth limit would repeat everything before the
 * back-reference a thousand times), and `checkJson` names it.
 */
function isPlainJson(value: unknown, ancestors: object[]): boolean {
  switch (typeof value) {
    case "string":
      return isStorableString(value);
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object":
      break;
    default:
      return false;
  }
  if (value === null) return true;
  if (ancestors.length >= MAX_JSON_DEPTH || ancestors.includes(value)) return false;
  // Binary data is refused whatever its prototype says.
  if (ArrayBuffer.isView(value)) return false;
  ancestors.push(value);
  const plain = Array.isArray(value)
    ? isPlainArray(value, ancestors)
    : isPlainObject(value, ancestors);
  ancestors.pop();
  return plain;
}

function isPlainArray(value: unknown[], ancestors: object[]): boolean {
  if (Object.getPrototypeOf(value) !== Array.prototype || "toJSON" in value) return false;
  for (let i = 0; i < value.length; i++) {
    if (!isPlainJson(value[i], ancestors)) return false;
  }
  return true;
}

function isPlainObject(value: object, ancestors: object[]): boolean {
  const prototype: unknown = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) return false;
  if ("toJSON" in value) return false;
  for (const key in value) {
    if (!Object.hasOwn(value, key) || !isStorableString(key)) return false;
    const child = (value as Record<string, unknown>)[key];
    if (child !== undefined && !isPlainJson(child, ancestors)) return false;
  }
  return true;
}

/** A string PostgreSQL can store as jsonb text: no NUL, no lone surrogate. */
function isStorableString(value: string): boolean {
  return !value.includes("\u0000") && value.isWellFormed();
}

function checkJson(value: unknown, path: string, ancestors: Set<object>, depth: number): void {
  switch (typeof value) {
    case "string":
      return checkString(value, path);
    case "boolean":
      return;
    case "number":
      if (!Number.isFinite(value))
        fail(path, `is ${value}, which JSON cannot hold`, "use null or a finite number");
      return;
    case "undefined":
      return fail(
        path,
        "is undefined, which JSON cannot hold",
        "use null, or leave the property out",
      );
    case "bigint":
      return fail(
        path,
        `is a BigInt (${value}n), which JSON cannot hold`,
        "convert it to a string or a number",
      );
    case "function":
      return fail(path, "is a function, which JSON cannot hold", "send data, not code");
    case "symbol":
      return fail(path, "is a symbol, which JSON cannot hold", "use a string");
  }
  if (value === null) return;
  const object = value as object;
  if (depth >= MAX_JSON_DEPTH) {
    fail(path, `nests deeper than ${MAX_JSON_DEPTH} levels`, "flatten the structure");
  }
  if ("toJSON" in object && typeof object.toJSON === "function") {
    return checkJson(
      (object as { toJSON(key: string): unknown }).toJSON(""),
      path,
      ancestors,
      depth,
    );
  }
  for (const [type, description] of LOSSY) {
    if (object instanceof type)
      fail(path, `is ${description}; JSON would store it as {}`, "convert it to plain data");
  }
  if (ArrayBuffer.isView(object) || object instanceof ArrayBuffer) {
    fail(path, "is binary data, which JSON cannot hold", "encode it as a base64 string");
  }
  if (ancestors.has(object))
    fail(path, "refers back to one of its parents (a cycle)", "send a tree, not a graph");
  ancestors.add(object);
  if (Array.isArray(object)) {
    for (let i = 0; i < object.length; i++)
      checkJson(object[i], `${path}[${i}]`, ancestors, depth + 1);
  } else {
    for (const key of Object.keys(object)) {
      checkString(key, `${path} key ${JSON.stringify(key)}`);
      const child = (object as Record<string, unknown>)[key];
      const childPath = `${path}.${key}`;
      // JSON.stringify silently drops these properties; undefined is common in option bags and
      // harmless, but a dropped function or symbol is almost certainly a mistake.
      if (child === undefined) continue;
      checkJson(child, childPath, ancestors, depth + 1);
    }
  }
  ancestors.delete(object);
}

function checkString(value: string, path: string): void {
  if (value.includes("\u0000")) {
    fail(
      path,
      "contains a NUL character (\\u0000), which PostgreSQL cannot store",
      "remove it or encode the text",
    );
  }
  if (!value.isWellFormed()) {
    fail(
      path,
      "contains a lone UTF-16 surrogate, which is not valid Unicode",
      "fix the text (String.prototype.toWellFormed)",
    );
  }
}

function fail(path: string, problem: string, advice: string): never {
  throw new ValidationError(path, `${path} ${problem}: ${advice}`);
}
