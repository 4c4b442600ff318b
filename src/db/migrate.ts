import { PgwakeError, SchemaTooNewError, toPgwakeError } from "../errors.js";
import { quoteIdentifier, quoteLiteral } from "./identifiers.js";
import { migrationFiles, renderSql, type MigrationFile } from "./sql-files.js";

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

/**
 * Compatibility across releases, so that replicas of the previous release keep working while a
 * new one migrates the schema (rolling upgrades; docs/upgrades.md).
 *
 * A migration file declares, in a comment line, which older clients can still use the schema once
 * it is applied. A client "knows" migrations up to the newest file it ships.
 *
 *   -- pgwake: compatible            additive: every client that could use the schema before can
 *                                    still use it after (a new index, column, function, setting)
 *   -- pgwake: compatible from 0007  clients that know migration 7 or later can (the second phase
 *                                    of a two-phase change: 0007's release stopped using what this
 *                                    one drops)
 *   (nothing)                        breaking: only clients that know this migration can
 *
 * `_migration_log` records every applied migration with `min_client_version`: 0 for compatible
 * ones, N for "compatible from N", its own version for breaking ones. A client may use the schema
 * when it knows at least the largest `min_client_version` in it; otherwise it is refused with
 * SchemaTooNewError, even if it would only read.
 *
 * `_migrations` is for pgwake 0.1.0, which reads nothing else and refuses any version in it above
 * the 5 it knows. So it lists migrations 1-5, and a later one only when 0.1.0 cannot use the
 * schema with it applied; an additive migration stays out of it, and 0.1.0 replicas may restart
 * during the rollout. Rows found only in `_migrations` count as breaking.
 */
const COMPATIBILITY_DIRECTIVE = /^--[ \t]*pgwake:[ \t]*(.*?)[ \t]*$/gm;

/** The newest migration of pgwake 0.1.0, the last release that reads only `_migrations`. */
const LEGACY_CLIENT_VERSION = 5;

/** How long a migration waits for a table lock before giving up, so it never stalls workers for long. */
const LOCK_TIMEOUT = "30s";

/** What the schema holds: the migrations applied, and the oldest client that can use it. */
interface SchemaState {
  applied: Set<number>;
  /** The largest applied version, or 0. */
  version: number;
  /** The largest `min_client_version`: clients knowing fewer migrations are refused. */
  minClientVersion: number;
}

/** The newest migration this code knows. */
export function latestVersion(files: MigrationFile[] = migrationFiles()): number {
  return Math.max(...files.map((file) => file.version));
}

/**
 * The oldest client version (the newest migration a client knows) that can use a schema with
 * `file` applied, from its `-- pgwake:` comment: 0 for `compatible`, N for `compatible from N`,
 * its own version without a comment.
 *
 * @example
 * ```ts
 * minClientVersion({ version: 6, name: "storage", text: "-- pgwake: compatible\n…" }); // 0
 * ```
 */
export function minClientVersion(file: MigrationFile): number {
  const directives = [...file.text.matchAll(COMPATIBILITY_DIRECTIVE)].map((m) => m[1]!);
  const label = `migration ${String(file.version).padStart(4, "0")}_${file.name}`;
  if (directives.length === 0) return file.version;
  if (directives.length > 1) {
    throw new Error(`internal: ${label} has ${directives.length} "-- pgwake:" lines; keep one`);
  }
  const match = /^compatible(?: from (\d{4}))?$/.exec(directives[0]!);
  if (!match) {
    throw new Error(
      `internal: ${label} says "-- pgwake: ${directives[0]}"; ` +
        `expected "-- pgwake: compatible" or "-- pgwake: compatible from NNNN"`,
    );
  }
  if (match[1] === undefined) return 0;
  const from = Number(match[1]);
  if (from >= file.version) {
    throw new Error(
      `internal: ${label} is "compatible from ${match[1]}", which is not older than itself; ` +
        `leave the line out to declare it breaking`,
    );
  }
  return from;
}

/**
 * Brings a schema up to date. Safe to run from many processes at once, of this release and of
 * older ones: a session advisory lock keyed on the schema serialises them, and the applied
 * versions are read only once it is held, so each migration runs exactly once. Each file runs in
 * its own transaction together with its bookkeeping rows. A schema already migrated further by a
 * newer pgwake is accepted as it is when every newer migration is compatible with this code.
 *
 * `files` is for tests, which play newer releases with extra migrations.
 *
 * @example
 * ```ts
 * await migrate(sql, "pgwake"); // { version: 5, applied: [1, 2, 3, 4, 5] } the first time
 * ```
 */
export async function migrate(
  sql: Reservable,
  schema: string,
  files: MigrationFile[] = migrationFiles(),
): Promise<MigrationReport> {
  // The key every release of pgwake has used: a new and an old client migrating at once must wait
  // for each other.
  const lockKey = [`pgwake:migrate:${schema}`] as never[];
  const connection = await sql.reserve().catch((error: unknown) => {
    throw toPgwakeError("migrate (connecting)", error);
  });
  try {
    await run(connection, "select pg_advisory_lock(hashtextextended($1, 0))", lockKey);
    try {
      const bookkeeping = await createBookkeeping(connection, schema);
      const state = await readState(connection, schema, bookkeeping);
      refuseIfTooNew(schema, state, files);
      // Every declaration is read before anything runs: a malformed one stops all migrations.
      const pending = files
        .filter((file) => !state.applied.has(file.version))
        .map((file) => ({ file, minClient: minClientVersion(file) }));
      const applied: number[] = [];
      for (const { file, minClient } of pending) {
        await applyMigration(connection, schema, file, minClient);
        applied.push(file.version);
      }
      return { version: Math.max(state.version, ...applied), applied };
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
 * Checks, without changing anything, that a schema has every migration this code knows, and none
 * it cannot use. Used when `migrate: false`. Returns the schema's version, which may be newer.
 */
export async function checkSchemaVersion(
  sql: { unsafe: ReservedConnection["unsafe"] },
  schema: string,
  files: MigrationFile[] = migrationFiles(),
): Promise<number> {
  const state = await readState(sql, schema, await findBookkeeping(sql, schema));
  refuseIfTooNew(schema, state, files);
  const missing = files.filter((file) => !state.applied.has(file.version));
  if (missing.length > 0) {
    throw new PgwakeError(
      "SCHEMA_OUTDATED",
      `schema "${schema}" is at migration ${state.version} but this pgwake needs ${latestVersion(files)}: ` +
        `run client.migrate() (or \`pgwake migrate\`), or connect with migrate: true`,
    );
  }
  return state.version;
}

function refuseIfTooNew(schema: string, state: SchemaState, files: MigrationFile[]): void {
  const known = latestVersion(files);
  if (state.minClientVersion > known) {
    throw new SchemaTooNewError(schema, state.version, known, state.minClientVersion);
  }
}

/** Which of the two bookkeeping tables exist (neither, if the schema does not). */
interface Bookkeeping {
  legacy: boolean;
  log: boolean;
}

async function findBookkeeping(
  sql: { unsafe: ReservedConnection["unsafe"] },
  schema: string,
): Promise<Bookkeeping> {
  const table = (name: string) => quoteLiteral(`${quoteIdentifier(schema)}.${name}`);
  const [[legacy, log] = []] = await run(
    sql,
    `select to_regclass(${table("_migrations")}) is not null,
            to_regclass(${table("_migration_log")}) is not null`,
  );
  return { legacy: legacy === true, log: log === true };
}

/**
 * Makes the schema and its bookkeeping tables where missing. Only where missing: CREATE ... IF NOT
 * EXISTS checks the CREATE privilege (on the database, on the schema) before it looks, so a role
 * that may use an up-to-date schema but not create in it (least privilege) would be refused for
 * nothing.
 */
async function createBookkeeping(
  connection: ReservedConnection,
  schema: string,
): Promise<Bookkeeping> {
  const found = await findBookkeeping(connection, schema);
  if (found.legacy && found.log) return found;
  const schemaId = quoteIdentifier(schema);
  await run(
    connection,
    `set client_min_messages = warning;
     create schema if not exists ${schemaId};
     create table if not exists ${schemaId}._migrations (
       version    integer primary key,
       name       text not null,
       applied_at timestamptz not null default now()
     );
     create table if not exists ${schemaId}._migration_log (
       version            integer primary key,
       name               text not null,
       min_client_version integer not null,
       applied_at         timestamptz not null default now()
     );
     reset client_min_messages;`,
  );
  return { legacy: true, log: true };
}

/**
 * Reads the bookkeeping tables that exist; either may be missing (a fresh schema, or one only
 * 0.1.0 has migrated).
 */
async function readState(
  sql: { unsafe: ReservedConnection["unsafe"] },
  schema: string,
  { legacy, log }: Bookkeeping,
): Promise<SchemaState> {
  const schemaId = quoteIdentifier(schema);
  const sources: string[] = [];
  if (log) sources.push(`select version, min_client_version from ${schemaId}._migration_log`);
  if (legacy) {
    sources.push(
      `select version, version from ${schemaId}._migrations m` +
        (log
          ? ` where not exists (select from ${schemaId}._migration_log l where l.version = m.version)`
          : ""),
    );
  }
  const rows = sources.length > 0 ? await run(sql, sources.join(" union all ")) : [];
  const versions = rows.map((row) => Number(row[0]));
  return {
    applied: new Set(versions),
    version: Math.max(0, ...versions),
    minClientVersion: Math.max(0, ...rows.map((row) => Number(row[1]))),
  };
}

async function applyMigration(
  connection: ReservedConnection,
  schema: string,
  file: MigrationFile,
  minClient: number,
): Promise<void> {
  const schemaId = quoteIdentifier(schema);
  const { version, name } = file;
  const values = `(${version}, ${quoteLiteral(name)}`;
  // 0.1.0 must see the migrations it knows, and any it cannot work with (see the top of this file).
  const legacyRow = version <= LEGACY_CLIENT_VERSION || minClient > LEGACY_CLIENT_VERSION;
  try {
    await run(
      connection,
      `begin;
       set local lock_timeout = '${LOCK_TIMEOUT}';
       set local client_min_messages = warning;
       ${renderSql(file.text, schema)};
       insert into ${schemaId}._migration_log (version, name, min_client_version)
         values ${values}, ${minClient});
       ${legacyRow ? `insert into ${schemaId}._migrations (version, name) values ${values});` : ""}
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
