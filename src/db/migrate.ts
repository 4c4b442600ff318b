import { PgwakeError, SchemaTooNewError, toPgwakeError } from "../errors.js";
import { quoteIdentifier, quoteLiteral } from "./identifiers.js";
import { migrationFiles, renderSql } from "./sql-files.js";

/** The part of a postgres.js instance the migrator needs: one dedicated connection. */
export interface Reservable {
  reserve(): Promise<ReservedConnection>;
}

export interface ReservedConnection {
  unsafe(query: string, parameters?: never[]): { values(): PromiseLike<unknown[][]> };
  release(): void;
}

export interface MigrationReport {
  /** The schema's migration version afterwards. */
  version: number;
  /** Versions applied by this call (empty when the schema was up to date). */
  applied: number[];
}

/** How long a migration waits for a table lock before giving up, so it never stalls workers for long. */
const LOCK_TIMEOUT = "30s";

/** The newest migration this code knows. */
export function latestVersion(): number {
  return Math.max(...migrationFiles().map((file) => file.version));
}

/**
 * Brings a schema up to date. Safe to run from many processes at once: a session advisory lock
 * keyed on the schema serialises them, and the applied versions are read only once it is held,
 * so each migration runs exactly once. Each file runs in its own transaction together with its
 * row in `_migrations`.
 *
 * @example
 * ```ts
 * await migrate(sql, "pgwake"); // { version: 1, applied: [1] } the first time
 * ```
 */
export async function migrate(sql: Reservable, schema: string): Promise<MigrationReport> {
  const schemaId = quoteIdentifier(schema);
  const lockKey = [`pgwake:migrate:${schema}`] as never[];
  const connection = await sql.reserve().catch((error: unknown) => {
    throw toPgwakeError("migrate (connecting)", error);
  });
  try {
    await run(connection, "select pg_advisory_lock(hashtextextended($1, 0))", lockKey);
    try {
      await run(
        connection,
        `set client_min_messages = warning;
         create schema if not exists ${schemaId};
         create table if not exists ${schemaId}._migrations (
           version    integer primary key,
           name       text not null,
           applied_at timestamptz not null default now()
         );
         reset client_min_messages;`,
      );
      const done = await appliedVersions(connection, schemaId);
      const newest = latestVersion();
      const databaseVersion = Math.max(0, ...done);
      if (databaseVersion > newest) throw new SchemaTooNewError(schema, databaseVersion, newest);
      const applied: number[] = [];
      for (const file of migrationFiles()) {
        if (done.has(file.version)) continue;
        await applyMigration(connection, schema, file.version, file.name, file.text);
        applied.push(file.version);
      }
      return { version: Math.max(databaseVersion, ...applied), applied };
    } finally {
      await run(connection, "select pg_advisory_unlock(hashtextextended($1, 0))", lockKey).catch(
        () => undefined, // the connection is gone, and the lock with it
      );
    }
  } finally {
    connection.release();
  }
}

/**
 * Checks, without changing anything, that a schema is at exactly the version this code expects.
 * Used when `migrate: false`.
 */
export async function checkSchemaVersion(
  sql: { unsafe: ReservedConnection["unsafe"] },
  schema: string,
): Promise<number> {
  const schemaId = quoteIdentifier(schema);
  const exists = await run(sql, `select to_regclass(${quoteLiteral(`${schemaId}._migrations`)})`);
  const newest = latestVersion();
  const version = exists[0]?.[0] ? Math.max(0, ...(await appliedVersions(sql, schemaId))) : 0;
  if (version > newest) throw new SchemaTooNewError(schema, version, newest);
  if (version < newest) {
    throw new PgwakeError(
      "SCHEMA_OUTDATED",
      `schema "${schema}" is at migration ${version} but this pgwake needs ${newest}: ` +
        `run client.migrate() (or \`pgwake migrate\`), or connect with migrate: true`,
    );
  }
  return version;
}

async function applyMigration(
  connection: ReservedConnection,
  schema: string,
  version: number,
  name: string,
  text: string,
): Promise<void> {
  const schemaId = quoteIdentifier(schema);
  try {
    await run(
      connection,
      `begin;
       set local lock_timeout = '${LOCK_TIMEOUT}';
       set local client_min_messages = warning;
       ${renderSql(text, schema)};
       insert into ${schemaId}._migrations (version, name) values (${version}, ${quoteLiteral(name)});
       commit;`,
    );
  } catch (error) {
    await run(connection, "rollback").catch(() => undefined);
    throw new PgwakeError(
      "DATABASE",
      `migration ${String(version).padStart(4, "0")}_${name} failed on schema "${schema}" and was rolled back: ` +
        `${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}

async function appliedVersions(
  sql: { unsafe: ReservedConnection["unsafe"] },
  schemaId: string,
): Promise<Set<number>> {
  const rows = await run(sql, `select version from ${schemaId}._migrations`);
  return new Set(rows.map((row) => Number(row[0])));
}

async function run(
  sql: { unsafe: ReservedConnection["unsafe"] },
  text: string,
  params?: never[],
): Promise<unknown[][]> {
  try {
    return await sql.unsafe(text, params).values();
  } catch (error) {
    throw toPgwakeError("migrate", error);
  }
}
