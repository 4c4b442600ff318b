/** A small connection of the harness's own, for dropping schemas and verifying (never timed). */
import postgres from "postgres";

export type Sql = postgres.Sql;

export function harnessSql(url: string): Sql {
  return postgres(url, { max: 1, onnotice: () => undefined, idle_timeout: 30 });
}

export function ident(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unexpected identifier ${name}`);
  return `"${name}"`;
}

export async function dropSchema(sql: Sql, schema: string): Promise<void> {
  await sql.unsafe(`drop schema if exists ${ident(schema)} cascade`);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** ANALYZE every table of `schema`, as autovacuum would have done to a backlog in production. */
export async function analyzeSchema(url: string, schema: string): Promise<void> {
  const sql = harnessSql(url);
  try {
    const tables = await sql<Array<{ name: string }>>`
      select tablename as name from pg_tables where schemaname = ${schema}`;
    for (const { name } of tables) await sql.unsafe(`analyze ${ident(schema)}.${ident(name)}`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
