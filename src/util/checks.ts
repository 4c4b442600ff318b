/**
 * The primitive checks behind the validation layer (`src/options.ts`). Each returns the checked
 * value or throws a ValidationError that names the field, shows what arrived and what was expected.
 */
import { ValidationError } from "../errors.js";
import { formatDuration, parseDuration } from "./duration.js";
import { toJsonText, type Json } from "./json.js";
import { isUuid } from "./uuid.js";

export const INT32_MAX = 2_147_483_647;
/** Delays beyond this are surely mistakes, and would overflow PostgreSQL's timestamps soon after. */
export const MAX_DELAY_MS = 100 * 365.25 * 24 * 3_600_000;
export const INT32_MIN = -2_147_483_648;
const MAX_ATTRIBUTES = 64;
/**
 * The longest string an attribute may hold, in UTF-16 units (JavaScript's `length`; SQL's send()
 * counts the same way). Attributes are indexed for filters and handed out with every claimed
 * job: they are for routing, and data belongs in the payload, which has its own size limit.
 */
export const MAX_ATTRIBUTE_VALUE_LENGTH = 1024;
const QUEUE_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Describes a value for a message: `0 (number)`, `"abc" (string)`. */
export function describe(value: unknown): string {
  if (typeof value === "string") {
    return `${JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value)} (string)`;
  }
  if (typeof value === "bigint") return `${value}n (bigint)`;
  if (value === null) return "null";
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Date) return `${value.toString()} (Date)`;
  if (typeof value === "object") return "an object";
  if (typeof value === "function") return "a function";
  return `${String(value)} (${typeof value})`;
}

/** Throws the standard "expected X to be Y, got Z: advice" ValidationError. */
export function invalid(field: string, expected: string, value: unknown, advice?: string): never {
  throw new ValidationError(
    field,
    `expected ${field} to be ${expected}, got ${describe(value)}${advice ? `: ${advice}` : ""}`,
  );
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** `check(value)` when the option was given, else `fallback`. */
export function optional<T, F>(value: unknown, fallback: F, check: (value: unknown) => T): T | F {
  return value === undefined ? fallback : check(value);
}

/** Checks an options bag: undefined or a plain object with only known keys. */
export function checkOptions<T extends object>(
  value: unknown,
  field: string,
  allowed: readonly (keyof T & string)[],
): Partial<T> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) invalid(field, "an object", value);
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key as keyof T & string)) {
      throw new ValidationError(
        `${field}.${key}`,
        `unknown option "${key}" in ${field}: expected one of ${allowed.join(", ")}`,
      );
    }
  }
  return value as Partial<T>;
}

/** Queue names: 1–128 letters, digits, `_ - . :`. */
export function checkQueueName(value: unknown, field = "queue name"): string {
  if (typeof value !== "string" || !QUEUE_NAME.test(value)) {
    invalid(
      field,
      "1-128 characters of letters, digits, _ - . :",
      value,
      'pick a name like "emails" or "billing.invoices"',
    );
  }
  return value;
}

export function checkDuration(
  value: unknown,
  field: string,
  maxMs = MAX_DELAY_MS,
  maxLabel = maxMs === MAX_DELAY_MS ? "100 years" : formatDuration(maxMs),
): number {
  const millis = parseDuration(value);
  if (millis === undefined) {
    invalid(
      field,
      'a duration: milliseconds (a number of 0 or more) or a string such as "30s" or "5m"',
      value,
    );
  }
  if (millis > maxMs) invalid(field, `a duration of at most ${maxLabel}`, value);
  return millis;
}

/** A Date PostgreSQL can store and compute with: years 1 to 9999. */
export function checkDate(value: unknown, field: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime()))
    invalid(field, "a valid Date", value);
  const year = value.getUTCFullYear();
  if (year < 1 || year > 9999) invalid(field, "a Date in the years 1 to 9999", value);
  return value;
}

export function checkInteger(value: unknown, field: string, min: number, max = INT32_MAX): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    const range =
      max === INT32_MAX ? `an integer from ${min} up` : `an integer from ${min} to ${max}`;
    invalid(field, range, value);
  }
  return value;
}

export function checkNumber(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < min || value > max) {
    invalid(field, `a number from ${min} to ${max}`, value);
  }
  return value;
}

export function checkBoolean(value: unknown, field: string): boolean {
  if (typeof value !== "boolean") invalid(field, "true or false", value);
  return value;
}

export function checkString(value: unknown, field: string, maxLength: number): string {
  if (typeof value !== "string" || value.length === 0 || value.length > maxLength) {
    invalid(field, `a string of 1-${maxLength} characters`, value);
  }
  return value;
}

export function checkSignal(value: unknown, field: string): AbortSignal {
  if (!(value instanceof AbortSignal)) invalid(field, "an AbortSignal", value);
  return value;
}

export function checkJobId(value: unknown, field = "job id"): string {
  if (!isUuid(value)) invalid(field, "a job id (a UUID, as send returned it)", value);
  return value.toLowerCase();
}

/**
 * Attributes and filters: a flat object of at most 64 keys of 1-128 characters whose values are
 * strings of at most {@link MAX_ATTRIBUTE_VALUE_LENGTH} characters, finite numbers, booleans and
 * nulls. Filters are held to the same limits: a filter value no attribute can hold matches nothing.
 */
export function checkAttributes(value: unknown, field: string): Record<string, Json> {
  if (!isPlainObject(value)) {
    invalid(field, "a flat object of strings, numbers, booleans and nulls", value);
  }
  const keys = Object.keys(value);
  if (keys.length > MAX_ATTRIBUTES) {
    throw new ValidationError(
      field,
      `${field} has ${keys.length} keys, more than ${MAX_ATTRIBUTES}: keep attributes for routing and filtering, and put data in the payload`,
    );
  }
  const entries: Array<[string, Json]> = [];
  for (const key of keys) {
    const item = value[key];
    if (key.length === 0 || key.length > 128) invalid(`${field} key`, "1-128 characters", key);
    const flat =
      item === null ||
      typeof item === "string" ||
      typeof item === "boolean" ||
      (typeof item === "number" && Number.isFinite(item));
    if (!flat) {
      invalid(
        `${field}.${key}`,
        "a string, a finite number, a boolean or null",
        item,
        "attributes are flat; nest data in the payload instead",
      );
    }
    if (typeof item === "string" && item.length > MAX_ATTRIBUTE_VALUE_LENGTH) {
      throw new ValidationError(
        `${field}.${key}`,
        `${field}.${key} is a string of ${item.length} characters, more than ${MAX_ATTRIBUTE_VALUE_LENGTH}: ` +
          "attributes are for routing and filtering; put longer data in the payload",
      );
    }
    entries.push([key, item as Json]);
  }
  // Not `out[key] = item`: an own "__proto__" key (JSON.parse makes those) must stay a key, not
  // reach Object.prototype's setter and vanish.
  const out = Object.fromEntries(entries);
  // NUL and lone surrogates in keys or strings would be rejected by PostgreSQL.
  toJsonText(out, field);
  return out;
}
