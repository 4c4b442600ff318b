import type postgres from "postgres";

/**
 * A stable text dump of a pgwake schema's catalog (no pg_dump needed): tables and columns, indexes,
 * constraints, triggers, functions (by a hash of their source) and view columns. Identical across
 * PostgreSQL majors, so one snapshot serves every server the tests run on.
 */
export async function dumpSchema(sql: postgres.Sql, schema: string): Promise<string> {
  const lines: string[] = [];
  const columns = await sql`
    select c.relname as table, a.attname as column, format_type(a.atttypid, a.atttypmod) as type,
           a.attnotnull as not_null, pg_get_expr(d.adbin, d.adrelid) as default
    from pg_class c
    join pg_namespace n on n.oid = c.relnamespace
    join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
    left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
    where n.nspname = ${schema} and c.relkind in ('r', 'v')
    order by c.relkind, c.relname, a.attnum`;
  for (const c of columns) {
    const type = String(c.type).replaceAll(`"${schema}".`, "").replaceAll(`${schema}.`, "");
    const dflt = c.default
      ? ` default ${String(c.default).replaceAll(`"${schema}".`, "").replaceAll(`${schema}.`, "")}`
      : "";
    lines.push(`column ${c.table}.${c.column} ${type}${c.not_null ? " not null" : ""}${dflt}`);
  }
  const indexes = await sql`
    select indexname, indexdef from pg_indexes where schemaname = ${schema} order by indexname`;
  for (const i of indexes) lines.push(`index ${String(i.indexdef).replaceAll(`${schema}.`, "")}`);
  const constraints = await sql`
    select conrelid::regclass::text as rel, conname, pg_get_constraintdef(oid) as def
    from pg_constraint
    where connamespace = (select oid from pg_namespace where nspname = ${schema})
      and contype <> 'n' -- PostgreSQL 18 records NOT NULL as constraints; columns show it already
    order by conname`;
  for (const c of constraints) lines.push(`constraint ${c.conname} ${c.def}`);
  const triggers = await sql`
    select tgname, pg_get_triggerdef(t.oid) as def
    from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and not t.tgisinternal order by tgname`;
  for (const t of triggers) lines.push(`trigger ${String(t.def).replaceAll(`${schema}.`, "")}`);
  const functions = await sql`
    select p.proname, pg_get_function_identity_arguments(p.oid) as args,
           md5(replace(p.prosrc, ${schema}, 'SCHEMA')) as hash
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = ${schema} order by p.proname`;
  for (const f of functions) {
    const args = String(f.args).replaceAll(`"${schema}".`, "").replaceAll(`${schema}.`, "");
    lines.push(`function ${f.proname}(${args}) md5 ${f.hash}`);
  }
  const types = await sql`
    select t.typname, array_agg(e.enumlabel order by e.enumsortorder) as labels
    from pg_type t join pg_namespace n on n.oid = t.typnamespace join pg_enum e on e.enumtypid = t.oid
    where n.nspname = ${schema} group by t.typname order by t.typname`;
  for (const t of types) lines.push(`enum ${t.typname} (${(t.labels as string[]).join(", ")})`);
  const options = await sql`
    select c.relname, c.reloptions from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = ${schema} and c.reloptions is not null order by c.relname`;
  for (const o of options)
    lines.push(`options ${o.relname} ${(o.reloptions as string[]).join(", ")}`);
  return `${lines.join("\n")}\n`;
}
