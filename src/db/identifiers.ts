/** Quotes an identifier for SQL: `my"schema` → `"my""schema"`. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * Quotes a string literal for SQL: `it's` → `'it''s'`. A backslash makes it an escape string,
 * `E'a\\b'`: in a plain literal a backslash is an escape character when
 * `standard_conforming_strings` is off (a user's own postgres.js may set it), and a schema name
 * ending in one would then end the literal early. An `E''` literal reads the same either way.
 */
export function quoteLiteral(value: string): string {
  const quoted = value.replace(/'/g, "''");
  return value.includes("\\") ? `E'${quoted.replace(/\\/g, "\\\\")}'` : `'${quoted}'`;
}
