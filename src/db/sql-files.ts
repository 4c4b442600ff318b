import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { channelName, type ChannelKind } from "../notify/channels.js";
import { quoteIdentifier, quoteLiteral } from "./identifiers.js";

/** The package's `sql/` folder: `../../sql` from both `src/db` and `dist/db`. */
const SQL_DIR = fileURLToPath(new URL("../../sql/", import.meta.url));

export interface MigrationFile {
  version: number;
  name: string;
  text: string;
}

/**
 * Replaces the template tokens that keep the SQL files valid SQL on their own:
 * `/*schema*\/` becomes the quoted schema and a dot; `/*literal:schema*\/'…'` the schema name as
 * a string literal, and `/*literal:channel:KIND*\/'…'` the channel name as one.
 */
export function renderSql(text: string, schema: string): string {
  const qualifier = `${quoteIdentifier(schema)}.`;
  // Replacer functions, not replacement strings: `$&` or `$'` in a schema name must stay literal.
  return text
    .replace(/\/\*schema\*\//g, () => qualifier)
    .replace(/\/\*literal:(schema|channel:\w+)\*\/'(?:[^']|'')*'/g, (_match, token: string) =>
      quoteLiteral(
        token === "schema" ? schema : channelName(schema, token.slice(8) as ChannelKind),
      ),
    );
}

let migrationCache: MigrationFile[] | undefined;

/** The migration files, in order, not yet rendered for a schema. */
export function migrationFiles(): MigrationFile[] {
  migrationCache ??= readdirSync(`${SQL_DIR}migrations`)
    .filter((file) => /^\d{4}_[\w-]+\.sql$/.test(file))
    .sort()
    .map((file) => ({
      version: Number(file.slice(0, 4)),
      name: file.slice(5, -4),
      text: readFileSync(`${SQL_DIR}migrations/${file}`, "utf8"),
    }));
  return migrationCache;
}

let queryCache: Map<string, string> | undefined;

/** Every `-- name: X` block of `sql/queries/*.sql`, by name, not yet rendered for a schema. */
export function queryBlocks(): Map<string, string> {
  if (queryCache) return queryCache;
  const blocks = new Map<string, string>();
  for (const file of readdirSync(`${SQL_DIR}queries`)
    .filter((f) => f.endsWith(".sql"))
    .sort()) {
    const text = readFileSync(`${SQL_DIR}queries/${file}`, "utf8");
    for (const part of text.split(/^-- name: /m).slice(1)) {
      const newline = part.indexOf("\n");
      const name = part.slice(0, newline).trim();
      const body = part
        .slice(newline + 1)
        .trim()
        .replace(/;\s*$/, "");
      if (blocks.has(name)) throw new Error(`internal: query ${name} is defined twice (${file})`);
      blocks.set(name, body);
    }
  }
  queryCache = blocks;
  return blocks;
}
