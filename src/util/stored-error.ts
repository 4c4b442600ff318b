import type { StoredError } from "../errors.js";

const MAX_TEXT = 8 * 1024;

/** Makes text safe for jsonb (no NUL, no lone surrogates) and bounded in size. */
function clean(text: string): string {
  const safe = text.toWellFormed().replaceAll("\u0000", "\\0");
  return safe.length > MAX_TEXT
    ? `${safe.slice(0, MAX_TEXT)}… (${safe.length - MAX_TEXT} more characters)`
    : safe;
}

/**
 * Turns whatever a handler threw (or `nack` was given) into the JSON stored with the attempt:
 * name, message and stack of an Error, plus its `code` when it has one.
 */
export function toStoredError(error: unknown): StoredError {
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
  let text: string;
  try {
    text = JSON.stringify(error) ?? String(error);
  } catch {
    text = String(error);
  }
  return { message: clean(text) };
}
