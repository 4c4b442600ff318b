/**
 * The WAL a server has written, as its insert position: read before and after a drain, the
 * difference is what that drain made PostgreSQL write (the run has the server to itself). A
 * durable commit waits for the disk behind it, so it explains a wake-up's latency under load
 * (README, "Why the wake-up is slow while draining").
 */
import { harnessSql } from "./adapters/sql.ts";

/** A function answering the server's WAL insert position, as bytes since the start of the WAL. */
export function walPositionReader(url: string): { read(): Promise<number>; end(): Promise<void> } {
  const sql = harnessSql(url);
  return {
    async read() {
      const [row] = await sql<Array<{ bytes: number }>>`
        select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '0/0')::float8 as bytes`;
      return row!.bytes;
    },
    end: () => sql.end({ timeout: 5 }),
  };
}
