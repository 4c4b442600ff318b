import ms from "ms";

/** A duration: milliseconds as a number, or an `ms` string such as `"30s"` or `"5m"`. */
export type Duration = number | string;

/**
 * Parses a {@link Duration} to whole milliseconds, or returns `undefined` when it is not one.
 * Negative and non-finite values are not durations.
 */
export function parseDuration(value: unknown): number | undefined {
  let millis: number | undefined;
  if (typeof value === "number") millis = value;
  else if (typeof value === "string" && value.trim() !== "") {
    // `ms` returns undefined (or NaN) for strings it cannot read.
    const parsed = ms(value as ms.StringValue) as number | undefined;
    millis = typeof parsed === "number" ? parsed : undefined;
  }
  if (millis === undefined || !Number.isFinite(millis) || millis < 0) return undefined;
  return Math.round(millis);
}

/** Formats milliseconds for messages (`1500` → `"1.5s"`, `86400000` → `"1 day"`). */
export function formatDuration(millis: number): string {
  return ms(millis, { long: true });
}
