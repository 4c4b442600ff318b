/**
 * Aligned plain-text tables for the terminal: a header row, columns two spaces apart, numbers
 * right-aligned, no trailing spaces, `-` for nothing.
 */

/** A table cell: numbers are right-aligned; null and "" show as `-`, undefined as nothing. */
export type Cell = string | number | null | undefined;

/**
 * Lays out rows under headers, each column as wide as its widest cell.
 *
 * @example
 * ```ts
 * table(["QUEUE", "QUEUED"], [["emails", 3]]);
 * // QUEUE   QUEUED
 * // emails       3
 * ```
 */
export function table(headers: string[], rows: Cell[][]): string {
  const text = rows.map((row) => headers.map((_, i) => show(row[i])));
  // A column is numeric (right-aligned) when every cell in it that has a value is a number, or
  // a number with a unit (`2.5ms`).
  const numeric = headers.map((_, i) => rows.every((row) => isNumeric(row[i])));
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...text.map((row) => row[i]!.length)),
  );
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(headers), ...text.map(line)].join("\n");
}

/**
 * Two aligned columns of names and values, for one record.
 *
 * @example
 * ```ts
 * keyValues([["id", job.id], ["state", job.state]]);
 * ```
 */
export function keyValues(pairs: Array<[string, Cell]>): string {
  const width = Math.max(...pairs.map(([key]) => key.length));
  return pairs.map(([key, value]) => `${key.padEnd(width)}  ${show(value)}`.trimEnd()).join("\n");
}

function isNumeric(cell: Cell): boolean {
  return cell == null || typeof cell === "number" || /^-?\d+(\.\d+)?(ms|s|m|h|d|%)?$/.test(cell);
}

function show(cell: Cell): string {
  if (cell === undefined) return "";
  return cell === null || cell === "" ? "-" : String(cell);
}
