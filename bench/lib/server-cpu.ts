/**
 * The CPU time PostgreSQL spends, read from /proc when the server runs on this machine: every
 * process named `postgres` (backends, autovacuum, WAL writer, checkpointer), user + system.
 * A drain's server CPU per job is then comparable across libraries whatever their connection
 * counts. Undefined when the server is not local (its backend's pid is not a local `postgres`).
 */
import { readFileSync, readdirSync } from "node:fs";
import { harnessSql } from "./adapters/sql.ts";

// Linux reports utime and stime in clock ticks; USER_HZ is 100 on every mainstream kernel.
const MICROS_PER_TICK = 10_000;

/** A process's name and CPU so far (user + system, µs) from /proc/<pid>/stat; undefined if gone. */
export function processCpu(pid: string): { name: string; micros: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const open = stat.indexOf("(");
    const close = stat.lastIndexOf(")");
    const fields = stat.slice(close + 2).split(" ");
    // After the name: state is field 3 of stat(5), utime 14 and stime 15.
    const micros = (Number(fields[11]) + Number(fields[12])) * MICROS_PER_TICK;
    return { name: stat.slice(open + 1, close), micros };
  } catch {
    return undefined; // gone, or not readable
  }
}

/** A function reading the server's CPU so far (µs), or undefined when the server is not local. */
export async function serverCpuReader(url: string): Promise<(() => number) | undefined> {
  const sql = harnessSql(url);
  let local = false;
  try {
    const [row] = await sql<Array<{ pid: number }>>`select pg_backend_pid() as pid`;
    // Read while the backend is alive: it exits when the connection ends.
    local = row !== undefined && processCpu(String(row.pid))?.name === "postgres";
  } catch {
    return undefined;
  } finally {
    await sql.end({ timeout: 5 });
  }
  if (!local) return undefined;
  return () => {
    let micros = 0;
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      const cpu = processCpu(entry);
      if (cpu?.name === "postgres") micros += cpu.micros;
    }
    return micros;
  };
}
