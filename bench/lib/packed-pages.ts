/**
 * Writing finished jobs straight into the jobs table, as the scale and EXPLAIN scripts do, puts
 * them at the table's fillfactor (50 since migration 0011), which leaves half of every page for a
 * claim's and an ack's row versions. A job written as finished gets neither, so its pages would
 * stay half empty and the table twice the size a production one reaches (0011 copies finished jobs
 * packed full, and a vacuum leaves their pages full of versions). This writes them packed full and
 * puts the table's own setting back.
 */
import type postgres from "postgres";

type Sql = postgres.Sql | postgres.ReservedSql;

export async function withPagesPackedFull<T>(
  sql: Sql,
  table: string,
  write: () => Promise<T>,
): Promise<T> {
  const [{ options }] = await sql.unsafe<[{ options: string[] | null }]>(
    `select reloptions as options from pg_class where oid = $1::regclass`,
    [table],
  );
  const own = options?.find((option) => option.startsWith("fillfactor="));
  const restore = (): Promise<unknown> =>
    sql.unsafe(
      own ? `alter table ${table} set (${own})` : `alter table ${table} reset (fillfactor)`,
    );
  await sql.unsafe(`alter table ${table} set (fillfactor = 100)`);
  const written = await write().catch(async (error: unknown) => {
    // The write's error is the one to report; a restore on a broken connection fails too.
    await restore().catch(() => undefined);
    throw error;
  });
  await restore();
  return written;
}
