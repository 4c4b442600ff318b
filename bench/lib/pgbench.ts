/**
 * PostgreSQL's own limit on this machine, with Debian's `pgbench`, so that every queue figure can
 * be read against the hardware:
 *   iud    one INSERT + UPDATE + DELETE of a small row per transaction (a job's whole life in one
 *          commit), 10 clients
 *   iud3   the same three statements as three transactions (three commits, as a queue needs at
 *          least: enqueue, claim, finish), 10 clients
 *   bulk   one INSERT of 1,000 rows per statement, 1 client (as the bulk enqueue workload)
 */
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { dropSchema, harnessSql } from "./adapters/sql.ts";

const run = promisify(execFile);

export const PGBENCH_SCHEMA = "bench_pgbench";

export interface PgbenchResult {
  script: "iud" | "iud3" | "bulk";
  description: string;
  clients: number;
  seconds: number;
  tps: number;
  /** Jobs (iud, iud3) or rows (bulk) per second. */
  rowsPerSecond: number;
}

const SCRIPTS = {
  iud: {
    description: "INSERT + UPDATE + DELETE of one row, one transaction",
    clients: 10,
    rows: 1,
    text: `\\set i random(1, 1000000000)
BEGIN;
INSERT INTO ${PGBENCH_SCHEMA}.q (payload) VALUES (jsonb_build_object('i', :i)) RETURNING id \\gset
UPDATE ${PGBENCH_SCHEMA}.q SET state = 'running', updated_at = now() WHERE id = :id;
DELETE FROM ${PGBENCH_SCHEMA}.q WHERE id = :id;
END;
`,
  },
  iud3: {
    description: "the same as three transactions (three commits per row)",
    clients: 10,
    rows: 1,
    text: `\\set i random(1, 1000000000)
INSERT INTO ${PGBENCH_SCHEMA}.q (payload) VALUES (jsonb_build_object('i', :i)) RETURNING id \\gset
UPDATE ${PGBENCH_SCHEMA}.q SET state = 'running', updated_at = now() WHERE id = :id;
DELETE FROM ${PGBENCH_SCHEMA}.q WHERE id = :id;
`,
  },
  bulk: {
    description: "INSERT of 1,000 rows per statement",
    clients: 1,
    rows: 1000,
    text: `INSERT INTO ${PGBENCH_SCHEMA}.bulk (payload) SELECT jsonb_build_object('i', g) FROM generate_series(1, 1000) g;
`,
  },
} as const;

/** Where pgbench is, or undefined. */
export async function findPgbench(): Promise<string | undefined> {
  try {
    const { stdout } = await run("sh", ["-c", "command -v pgbench"]);
    if (stdout.trim()) return stdout.trim();
  } catch {
    // not on PATH
  }
  for (const version of [18, 17, 16, 15, 14, 13]) {
    const path = `/usr/lib/postgresql/${version}/bin/pgbench`;
    if (existsSync(path)) return path;
  }
  return undefined;
}

export async function pgbenchVersion(binary: string): Promise<string> {
  const { stdout } = await run(binary, ["--version"]);
  return stdout.trim();
}

/** Runs the three scripts, `seconds` each (bulk gets half), in a schema dropped afterwards. */
export async function runPgbench(
  binary: string,
  url: string,
  seconds: number,
): Promise<PgbenchResult[]> {
  const sql = harnessSql(url);
  const dir = mkdtempSync(join(tmpdir(), "pgwake-pgbench-"));
  try {
    await dropSchema(sql, PGBENCH_SCHEMA);
    await sql.unsafe(`create schema ${PGBENCH_SCHEMA}`);
    for (const table of ["q", "bulk"]) {
      await sql.unsafe(`create table ${PGBENCH_SCHEMA}.${table} (
        id bigserial primary key,
        payload jsonb not null,
        state text not null default 'queued',
        created_at timestamptz not null default now(),
        updated_at timestamptz
      )`);
    }
    const results: PgbenchResult[] = [];
    for (const [name, script] of Object.entries(SCRIPTS) as Array<
      [PgbenchResult["script"], (typeof SCRIPTS)[keyof typeof SCRIPTS]]
    >) {
      const file = join(dir, `${name}.sql`);
      writeFileSync(file, script.text);
      const time = name === "bulk" ? Math.max(1, Math.round(seconds / 2)) : seconds;
      const { stdout } = await run(
        binary,
        ["-n", "-c", String(script.clients), "-j", "2", "-T", String(time), "-f", file, url],
        { maxBuffer: 1 << 20 },
      );
      const tps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1]);
      if (!Number.isFinite(tps)) throw new Error(`pgbench printed no tps:\n${stdout}`);
      results.push({
        script: name,
        description: script.description,
        clients: script.clients,
        seconds: time,
        tps: Math.round(tps),
        rowsPerSecond: Math.round(tps * script.rows),
      });
      await sql.unsafe(`truncate ${PGBENCH_SCHEMA}.q, ${PGBENCH_SCHEMA}.bulk`);
    }
    return results;
  } finally {
    await dropSchema(sql, PGBENCH_SCHEMA).catch(() => undefined);
    await sql.end({ timeout: 5 });
    rmSync(dir, { recursive: true, force: true });
  }
}
