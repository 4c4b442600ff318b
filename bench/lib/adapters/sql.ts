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
