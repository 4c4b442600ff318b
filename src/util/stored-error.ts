import type { StoredError } from "../errors.js";

const MAX_TEXT = 8 * 1024;

/** Makes text safe for jsonb (no NUL, no lone surrogates) and bounded in size. */
function clean(value: unknown): string {
  const safe = printable(value).toWellFormed().replaceAll("\u0000", "\\0");
  return safe.length > MAX_TEXT
    ? `${safe.slice(0, MAX_TEXT)}… (${safe.length - MAX_TEXT} more characters)`
    : safe;
}

/**
 * Turns whatever a handler threw (or `nack` was given) into the JSON stored with the attempt:
 * name, message and stack of an Error, plus its `code` when it has one. Never throws.
 */
export function toStoredError(error: unknown): StoredError {
  try {
    return describe(error);
  } catch {
    // A Proxy or getters that throw: the attempt still fails, with what could be said about it.
    return { message: "nacked with a value whose properties could not be read" };
  }
}

function describe(error: unknown): StoredError {
  if (error instanceof Error) {
    const stored: StoredError = { name: clean(error.name), message: clean(error.message) };
    if (error.stack) stored.stack = clean(error.stack);
    const code = (error as { code?: unknown }).code;
    if (typeof code === "string" || typeof code === "number")
      stored.code = typeof code === "string" ? clean(code) : code;
    return stored;
  }
  if (error === undefined) return { message: "nacked without an error" };
  if (typeof error === "string") return { message: clean(error) };
  let text: string | undefined;
  try {
    text = JSON.stringify(error);
  } catch {
    // a BigInt or a cycle: described below instead
  }
  return { message: clean(text ?? error) };
}

/**
 * Text for any value, never throwing: what a handler throws, and the fields of an Error, can be
 * anything (a `stack` someone set to a number, an object without a prototype, a throwing
 * `toString`), and failing here would leave the job running with nobody settling it.
 */
function printable(value: unknown): string {
  if (typeof value === "string") return value;
  try {
    return String(value);
  } catch {
    return `[unprintable ${value === null ? "null" : typeof value}]`;
  }
}
