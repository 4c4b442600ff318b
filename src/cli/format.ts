/** How the CLI shows values: durations as they are typed, times in UTC, JSON on one line. */

const UNITS: Array<[string, number]> = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
];

/**
 * Milliseconds in the largest unit that divides them exactly (`30000` → `30s`, `90000` → `90s`,
 * `1500` → `1500ms`), so what is shown can be typed back as an option.
 *
 * @example
 * ```ts
 * duration(604_800_000); // "7d"
 * ```
 */
export function duration(ms: number): string {
  if (ms === 0) return "0ms";
  for (const [unit, size] of UNITS) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** A time in UTC to the second: `2026-11-29T19:30:01Z`. */
export function time(date: Date | null | undefined): string | null {
  return date ? date.toISOString().replace(/\.\d{3}Z$/, "Z") : null;
}

/** JSON on one line, cut to `max` characters with `…` when longer (no cut when `max` is absent). */
export function json(value: unknown, max?: number): string {
  const text = JSON.stringify(value) ?? "null";
  return max !== undefined && text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** Pretty JSON for `--json`, Dates as ISO strings. */
export function prettyJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** Milliseconds with one decimal (`2.345` → `2.3ms`). */
export function millis(ms: number): string {
  return `${ms.toFixed(1)}ms`;
}
