import type postgres from "postgres";

/** What PostgreSQL says about the jobs table. */
export interface TableStats {
  liveTuples: number;
  deadTuples: number;
  /** Finished jobs already past their queue's retention: the cleaner's backlog (counted exactly). */
  expired: number;
  /** Heap, indexes and TOAST, in bytes. */
  totalBytes: number;
  heapBytes: number;
  indexBytes: number;
  autovacuums: number;
  /** VACUUMs run by hand (the soak's stand-in for a server with autovacuum off). */
  vacuums: number;
}

/**
 * The session of this database whose snapshot is oldest: vacuum cannot remove row versions that
 * died after it was taken. Null when no other session holds one.
 */
export interface HorizonHolder {
  applicationName: string;
  state: string;
  /** How long its transaction has been open, in seconds. */
  transactionS: number;
  query: string;
}

/** Who holds the database's xmin horizon back right now (other than this connection). */
export async function horizonHolder(admin: postgres.Sql): Promise<HorizonHolder | null> {
  const [row] = await admin.unsafe<
    Array<{ app: string; state: string; seconds: number; query: string }>
  >(
    `select application_name as app, coalesce(state, '') as state,
            extract(epoch from now() - xact_start)::float8 as seconds, left(query, 120) as query
       from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid() and backend_xmin is not null
      order by age(backend_xmin) desc
      limit 1`,
  );
  return row
    ? { applicationName: row.app, state: row.state, transactionS: row.seconds, query: row.query }
    : null;
}

export function describeHolder(holder: HorizonHolder | null): string {
  if (!holder) return "no other session held a snapshot";
  return (
    `the oldest snapshot was "${holder.applicationName}"'s (${holder.state}, transaction open ` +
    `${holder.transactionS.toFixed(1)} s: ${holder.query})`
  );
}

/**
 * The jobs table's tuple counts (pg_stat_user_tables: approximate, and flushed by each backend
 * about once a second), the finished jobs already past retention (exact), its size on disk, and
 * how often it was vacuumed.
 */
export async function tableStats(admin: postgres.Sql, schema: string): Promise<TableStats> {
  const quoted = `"${schema.replaceAll('"', '""')}"`;
  const [row] = await admin.unsafe<
    Array<{
      live: string;
      dead: string;
      expired: string;
      total: string;
      heap: string;
      idx: string;
      av: string;
      v: string;
    }>
  >(
    `select n_live_tup as live, n_dead_tup as dead,
            (select count(*) from ${quoted}._jobs j join ${quoted}._queues q on q.name = j.queue
              where j.state in ('completed', 'failed', 'cancelled')
                and j.finished_at < now() - q.retention_ms * interval '1 millisecond') as expired,
            pg_total_relation_size(relid) as total, pg_relation_size(relid) as heap,
            pg_indexes_size(relid) as idx, autovacuum_count as av, vacuum_count as v
       from pg_stat_user_tables where relid = $1::regclass`,
    [`${quoted}._jobs`],
  );
  if (!row) throw new Error(`no statistics for ${quoted}._jobs: is the schema migrated?`);
  return {
    liveTuples: Number(row.live),
    deadTuples: Number(row.dead),
    expired: Number(row.expired),
    totalBytes: Number(row.total),
    heapBytes: Number(row.heap),
    indexBytes: Number(row.idx),
    autovacuums: Number(row.av),
    vacuums: Number(row.v),
  };
}

/** The server's version, and whether and how often autovacuum visits a database. */
export async function autovacuumSettings(
  admin: postgres.Sql,
): Promise<{ autovacuum: boolean; naptimeS: number; version: string }> {
  const [row] = await admin.unsafe<Array<{ on: string; naptime: string; version: string }>>(
    `select current_setting('autovacuum') as on, current_setting('server_version') as version,
            (select setting from pg_settings where name = 'autovacuum_naptime') as naptime`,
  );
  return { autovacuum: row!.on === "on", naptimeS: Number(row!.naptime), version: row!.version };
}
