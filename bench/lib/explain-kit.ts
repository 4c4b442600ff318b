/**
 * What bench/explain-claim.ts and bench/explain-operator.ts both need: one reserved connection's
 * statements, rolled-back transactions, plan-cache counts, and the formatting of their reports.
 */
import { execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";
import type postgres from "postgres";

export type Conn = postgres.ReservedSql;
export type Param = string | number | string[] | null;

export function log(message = ""): void {
  process.stdout.write(`${message}\n`);
}

export async function rows(conn: Conn, text: string, params?: Param[]): Promise<unknown[][]> {
  return (await conn.unsafe(text, params as never[] | undefined).values()) as unknown[][];
}

/** Runs `fn` in a transaction that is rolled back, whatever it wrote. */
export async function rolledBack<T>(conn: Conn, fn: () => Promise<T>): Promise<T> {
  await conn.unsafe("begin");
  try {
    return await fn();
  } finally {
    await conn.unsafe("rollback");
  }
}

/** How PostgreSQL planned a named prepared statement so far: [generic, custom] plans. */
export async function planCounts(conn: Conn, text: string): Promise<[number, number]> {
  const found = await rows(
    conn,
    `select generic_plans, custom_plans from pg_prepared_statements
     where not from_sql and statement = $1`,
    [text],
  );
  return found[0] ? [Number(found[0][0]), Number(found[0][1])] : [0, 0];
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function ms(value: number): string {
  return `${value < 10 ? value.toFixed(2) : value.toFixed(0)} ms`;
}

/** The number `pattern`'s first group finds in `text`. */
export function num(text: string, pattern: RegExp): number | undefined {
  const match = pattern.exec(text);
  return match ? Number(match[1]) : undefined;
}

/** The CPUs this process may use, as the report states them. */
export function nproc(): string {
  try {
    return execFileSync("nproc", { encoding: "utf8" }).trim();
  } catch {
    return String(availableParallelism());
  }
}
