/**
 * How the operator statements (job listings, queue listings, a job by id, a remote consumer's
 * lease extension, deleting a queue) behave with a large jobs table.
 *
 *   node --import tsx bench/explain-operator.ts
 *
 * Builds a throwaway schema (`pgwake_explain_operator`, dropped and recreated each run) with
 * `migrate()`, so the indexes are the migrations' own; loads about 1.1 million jobs with
 * set-based SQL (see `load`), then `VACUUM ANALYZE`; runs EXPLAIN (ANALYZE, BUFFERS) of each
 * statement called as `src/db/queries.ts` calls it, times it, and writes docs/operator-explain.md.
 * Statements that write (extendLease, deleteQueue) run in transactions that are rolled back.
 * The schema is dropped at the end unless KEEP=1.
 *
 * Environment:
 *   DATABASE_URL     default postgres://postgres@127.0.0.1:5432/test
 *   KEEP=1           keep the schema
 *   EXPLAIN_OUTPUT   write the report here instead of docs/operator-explain.md
 */
import { cpus, totalmem } from "node:os";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import {
  log,
  ms,
  nproc,
  num,
  percentile,
  planCounts,
  rolledBack,
  rows,
  type Conn,
  type Param,
} from "./lib/explain-kit.js";
import { withPagesPackedFull } from "./lib/packed-pages.js";
import { quoteIdentifier, quoteLiteral } from "../src/db/identifiers.js";
import { migrate } from "../src/db/migrate.js";
import { Queries, type Db } from "../src/db/queries.js";
import { writeFormatted } from "./lib/formatted.ts";

const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const KEEP = process.env.KEEP === "1";
const SCHEMA = "pgwake_explain_operator";
const DEFAULT_OUT = fileURLToPath(new URL("../docs/operator-explain.md", import.meta.url));
const OUT = process.env.EXPLAIN_OUTPUT ? resolve(process.env.EXPLAIN_OUTPUT) : DEFAULT_OUT;

/** Finished jobs of the past week, in `emails` and (one in REPORTS_EVERY) `reports`. */
const FINISHED = 901_500;
/** Of FINISHED, in each block of BLOCK rows: one cancelled, two failed, the rest completed. */
const BLOCK = 1_803;
const REPORTS_EVERY = 97;
/** Completed jobs of `archive`, a queue idle for a week: older than every other job. */
const ARCHIVE = 100_000;
const RUNNING = 1_000;
/** Queued jobs, one in 100 in `reports`. */
const QUEUED = 100_000;
const SCHEDULED = 1_000;
/** `client.jobs()` pages hold 50 jobs and ask for one more, to know whether a next page exists. */
const PAGE = 50;
const LIMIT = PAGE + 1;
/** The page whose cursor the deep listings use. */
const DEEP_PAGE = 100;
const RUNS = 50;
/** deleteQueue deletes ARCHIVE rows per run (rolled back): fewer runs. */
const DELETE_RUNS = 10;

const s = quoteIdentifier(SCHEMA);
const jobs = `${s}._jobs`;
/** As the client builds them: prepared, except listJobs (src/db/queries.ts PLANNED_PER_CALL). */
const queries = new Queries(SCHEMA, true);
const EXPLAIN = "explain (analyze, buffers, verbose off, costs on)";

/** One statement call: explained, timed, described. */
interface Case {
  key: string;
  /** The call as the report shows it. */
  call: string;
  /** The call through `Queries`, as the client makes it (see `capture`). */
  invoke: (db: Db) => Promise<unknown>;
  /** Writes: explained, and timed run by run, in transactions that are rolled back. */
  writes?: boolean;
  runs?: number;
  /** Filled in by `capture`: the statement as `Queries.run` sends it. */
  text?: string;
  params?: Param[];
  /** Prepared (a named statement, with a plan cache) or planned with its values each call. */
  prepared?: boolean;
  plan?: string;
  /** The generic plan, when the plan cache used it in the timed runs. */
  genericPlan?: string;
  timing?: Timing;
}

interface Timing {
  runs: number;
  p50: number;
  p95: number;
  max: number;
  /** How the plan cache planned the named statement during these runs (prepared only). */
  cache?: string;
  /** Runs that used the generic plan. */
  generic: number;
}

const sql = postgres(DATABASE_URL, { max: 2, onnotice: () => undefined });
const loadSteps: Array<[string, number]> = [];
/** WAL written by one `deleteQueue('archive')`, rolled back. */
let deleteWal: number | undefined;

async function step(label: string, fn: () => Promise<unknown>): Promise<void> {
  const start = performance.now();
  await fn();
  const seconds = (performance.now() - start) / 1000;
  loadSteps.push([label, seconds]);
  log(`  ${label}: ${seconds.toFixed(1)} s`);
}

function fmt(n: number | undefined): string {
  return n === undefined || Number.isNaN(n) ? "?" : n.toLocaleString("en");
}

/** A parameter as an SQL literal, for EXECUTE of a prepared statement. */
function literal(value: Param): string {
  if (value === null) return "null";
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) return quoteLiteral(`{${value.join(",")}}`);
  return quoteLiteral(value);
}

// ---------------------------------------------------------------------------------------------
// Data

/**
 * Ids come from the schema's `uuid_v7()` at insert time, so id order is insertion order: the
 * idle queue's jobs first, then a week of finished jobs, then the running ones, the queued
 * backlog and the delayed jobs, the newest. Listings walk that order backwards.
 */
async function load(conn: Conn): Promise<void> {
  log(`schema ${SCHEMA}`);
  await step("drop, migrate, create queues", async () => {
    await conn.unsafe(`set client_min_messages = warning; drop schema if exists ${s} cascade`);
    await migrate(sql, SCHEMA);
    await conn.unsafe(
      `insert into ${s}._queues (name) values ('emails'), ('reports'), ('archive')`,
    );
  });
  const payload = `jsonb_build_object('to', 'user' || i || '@example.com', 'template', 'welcome')`;
  await step(`insert ${fmt(ARCHIVE)} completed jobs of 'archive'`, () =>
    withPagesPackedFull(conn, jobs, () =>
      conn.unsafe(`
      insert into ${jobs} (id, queue, state, priority, run_at, payload, attempt, result,
                           created_at, started_at, finished_at)
      select ${s}.uuid_v7(), 'archive', 'completed', 0, t.at, ${payload}, 1,
             '{"messageId": "abc"}', t.at, t.at + interval '1 second', t.at + interval '2 seconds'
      from generate_series(1, ${ARCHIVE}) as i
      cross join lateral (
        select now() - interval '14 days' + (i * interval '6 days') / ${ARCHIVE} as at) t`),
    ),
  );
  await step(`insert ${fmt(FINISHED)} finished jobs of 'emails' and 'reports'`, () =>
    withPagesPackedFull(conn, jobs, () =>
      conn.unsafe(`
      insert into ${jobs} (id, queue, state, priority, run_at, payload, attempt, result, errors,
                           created_at, started_at, finished_at)
      select ${s}.uuid_v7(),
             case when i % ${REPORTS_EVERY} = 0 then 'reports' else 'emails' end,
             st.state::${s}.job_state, i % 6, t.at, ${payload},
             case st.state when 'failed' then 5 when 'cancelled' then 0 else 1 end,
             case when st.state = 'completed' then '{"messageId": "abc"}'::jsonb end,
             case when st.state = 'failed' then jsonb_build_array(jsonb_build_object(
               'name', 'Error', 'message', 'smtp timeout', 'attempt', 5, 'at', t.at)) end,
             t.at,
             case when st.state <> 'cancelled' then t.at + interval '1 second' end,
             t.at + interval '2 seconds'
      from generate_series(1, ${FINISHED}) as i
      cross join lateral (
        select now() - interval '7 days 1 hour' + (i * interval '7 days') / ${FINISHED} as at) t
      cross join lateral (
        select case i % ${BLOCK} when 0 then 'cancelled' when 1 then 'failed' when 2 then 'failed'
                    else 'completed' end as state) st`),
    ),
  );
  await step(`insert ${fmt(RUNNING)} running jobs of 'emails'`, () =>
    conn.unsafe(`
      insert into ${jobs} (id, queue, state, priority, run_at, payload, attempt, lease_token,
                           lease_expires_at, leased_by, created_at, started_at)
      select ${s}.uuid_v7(), 'emails', 'running', i % 6, now() - interval '2 minutes', ${payload},
             1, gen_random_uuid(), now() + interval '1 hour', 'worker-' || (i % 8),
             now() - interval '2 minutes', now() - interval '1 minute'
      from generate_series(1, ${RUNNING}) as i`),
  );
  await step(`insert ${fmt(QUEUED)} queued jobs (one in 100 of 'reports')`, () =>
    conn.unsafe(`
      insert into ${jobs} (id, queue, state, priority, run_at, payload, created_at)
      select ${s}.uuid_v7(), case when i % 100 = 0 then 'reports' else 'emails' end, 'queued',
             i % 6, t.at, ${payload}, t.at
      from generate_series(1, ${QUEUED}) as i
      cross join lateral (select now() - interval '1 hour' + i * interval '36 ms' as at) t`),
  );
  await step(`insert ${fmt(SCHEDULED)} scheduled jobs of 'emails'`, () =>
    conn.unsafe(`
      insert into ${jobs} (id, queue, state, priority, run_at, payload)
      select ${s}.uuid_v7(), 'emails', 'scheduled', 0,
             now() + interval '10 minutes' + i * interval '1 minute', ${payload}
      from generate_series(1, ${SCHEDULED}) as i`),
  );
  // One statement per call: VACUUM cannot run in a multi-statement query's implicit transaction.
  await step("vacuum analyze", async () => {
    await conn.unsafe(`vacuum (analyze) ${jobs}`);
    await conn.unsafe(`vacuum (analyze) ${s}._queues`);
  });
}

// ---------------------------------------------------------------------------------------------
// Explaining and timing

/**
 * Makes the case's call through `Queries` against a stand-in that records what `Queries.run`
 * sends (text, parameters, and whether it prepares), so every measurement below uses exactly the
 * client's parameters: the internal states array of listJobs, its unprepared call, and so on.
 */
async function capture(c: Case): Promise<void> {
  let sent: { text: string; params: Param[]; prepared: boolean } | undefined;
  const db: Db = {
    unsafe(query, parameters, options) {
      sent ??= {
        text: query,
        params: (parameters ?? []) as unknown as Param[],
        prepared: options?.prepare === true,
      };
      // A result naming its command, as a statement that ran has (src/db/orphans.ts checkRan).
      return { values: async () => Object.assign([], { command: "SELECT" }) };
    },
  };
  await c.invoke(db);
  if (!sent) throw new Error(`${c.key}: the call sent nothing`);
  Object.assign(c, sent);
}

/** EXPLAIN ANALYZE with bound parameters (an unnamed statement: planned with its values). */
async function explainCustom(conn: Conn, c: Case): Promise<string> {
  const explain = async () =>
    (await rows(conn, `${EXPLAIN} ${c.text!}`, c.params)).map((row) => row[0] as string).join("\n");
  return c.writes ? rolledBack(conn, explain) : explain();
}

/**
 * EXPLAIN ANALYZE EXECUTE of the generic plan, the plan a prepared statement switches to after
 * five runs if it does not look costlier than the custom ones (PostgreSQL 15 has no EXPLAIN
 * (GENERIC_PLAN); plan_cache_mode forces it).
 */
async function explainGeneric(conn: Conn, c: Case): Promise<string> {
  const statement = `pgwake_explain_${c.key.replace(/\W/g, "_")}`;
  await conn.unsafe(`prepare ${statement} as ${c.text!}`);
  try {
    return await rolledBack(conn, async () => {
      await conn.unsafe("set local plan_cache_mode = force_generic_plan");
      const plan = await rows(
        conn,
        `${EXPLAIN} execute ${statement}(${c.params!.map(literal).join(", ")})`,
      );
      return plan.map((row) => row[0] as string).join("\n");
    });
  } finally {
    await conn.unsafe(`deallocate ${statement}`);
  }
}

/**
 * Runs a case `runs` times as the client runs it (prepared or not) and times each call's round
 * trips from Node; a case that writes runs each call in its own transaction, rolled back (BEGIN
 * and ROLLBACK not timed).
 */
async function time(conn: Conn, c: Case): Promise<Timing> {
  const text = c.text!;
  const runs = c.runs ?? RUNS;
  const [generic0, custom0] = c.prepared ? await planCounts(conn, text) : [0, 0];
  const samples: number[] = [];
  const once = async () => {
    const t0 = performance.now();
    await conn.unsafe(text, c.params as never[], { prepare: c.prepared! }).values();
    samples.push(performance.now() - t0);
  };
  for (let i = 0; i < runs; i++) {
    if (c.writes) await rolledBack(conn, once);
    else await once();
  }
  const [generic1, custom1] = c.prepared ? await planCounts(conn, text) : [0, 0];
  samples.sort((a, b) => a - b);
  const timing: Timing = {
    runs,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    max: samples[samples.length - 1]!,
    generic: generic1 - generic0,
    ...(c.prepared ? { cache: `${generic1 - generic0} generic, ${custom1 - custom0} custom` } : {}),
  };
  log(
    `  ${c.key}: p50 ${ms(timing.p50)}, p95 ${ms(timing.p95)}, max ${ms(timing.max)}` +
      (timing.cache ? ` (${timing.cache})` : ""),
  );
  return timing;
}

async function measure(conn: Conn, c: Case): Promise<void> {
  await capture(c);
  c.plan = await explainCustom(conn, c);
  log(`\n-- ${c.key}  ${c.call}\n${c.plan}`);
  c.timing = await time(conn, c);
  if (c.timing.generic > 0) {
    c.genericPlan = await explainGeneric(conn, c);
    log(`\n-- ${c.key}, generic plan\n${c.genericPlan}`);
  }
}

// ---------------------------------------------------------------------------------------------

/** The ids the cases need, read after loading. */
interface Picks {
  /** The last id of page DEEP_PAGE - 1 of the unfiltered listing, and of the `reports` one. */
  deepCursor: string;
  deepReportsCursor: string;
  /** A completed job of `emails` about halfway through the table. */
  jobId: string;
  /** A running job and its lease token. */
  leaseId: string;
  leaseToken: string;
}

async function pick(conn: Conn): Promise<Picks> {
  const one = async (text: string): Promise<string[]> => {
    const [row] = await rows(conn, text);
    if (!row) throw new Error(`no row: ${text}`);
    return row as string[];
  };
  const offset = PAGE * (DEEP_PAGE - 1) - 1;
  const [deepCursor] = await one(
    `select id::text from ${jobs} order by id desc offset ${offset} limit 1`,
  );
  const [deepReportsCursor] = await one(
    `select id::text from ${jobs} where queue = 'reports' order by id desc offset ${offset} limit 1`,
  );
  const [jobId] = await one(
    `select id::text from ${jobs} where queue = 'emails' and state = 'completed'
     order by id offset ${Math.floor(FINISHED / 2)} limit 1`,
  );
  const [leaseId, leaseToken] = await one(
    `select id::text, lease_token::text from ${jobs} where state = 'running' order by id limit 1`,
  );
  return {
    deepCursor: deepCursor!,
    deepReportsCursor: deepReportsCursor!,
    jobId: jobId!,
    leaseId: leaseId!,
    leaseToken: leaseToken!,
  };
}

function cases(p: Picks): Case[] {
  const list = (
    key: string,
    queue: string | null,
    state: "queued" | "completed" | "failed" | null,
    before: string | null = null,
  ): Case => {
    const filters = [
      queue && `queue '${queue}'`,
      state && `state '${state}'`,
      before && `cursor of page ${DEEP_PAGE}`,
    ].filter(Boolean);
    return {
      key,
      call: `listJobs(${filters.join(", ") || "no filter"}, limit ${LIMIT})`,
      invoke: (db) => queries.listJobs(db, { queue, state, before, limit: LIMIT }),
    };
  };
  return [
    list("list", null, null),
    list("list-emails", "emails", null),
    list("list-reports", "reports", null),
    list("list-archive", "archive", null),
    list("list-failed", null, "failed"),
    list("list-failed-emails", "emails", "failed"),
    list("list-failed-reports", "reports", "failed"),
    list("list-queued", null, "queued"),
    list("list-completed", null, "completed"),
    list("list-deep", null, null, p.deepCursor),
    list("list-deep-reports", "reports", null, p.deepReportsCursor),
    {
      key: "queues",
      call: "listQueues(null)",
      invoke: (db) => queries.listQueues(db, null),
    },
    {
      key: "queues-emails",
      call: "listQueues('emails')",
      invoke: (db) => queries.listQueues(db, "emails"),
    },
    {
      key: "job",
      call: "getJob(null, <a completed job>)",
      invoke: (db) => queries.getJob(db, null, p.jobId),
    },
    {
      key: "lease",
      call: "extendLease(<a running job>, <its token>)",
      invoke: (db) => queries.extendLease(db, { id: p.leaseId, token: p.leaseToken }),
      writes: true,
    },
    {
      key: "delete-archive",
      call: `deleteQueue('archive')  -- ${fmt(ARCHIVE)} finished jobs, nothing else`,
      invoke: (db) => queries.deleteQueue(db, "archive"),
      writes: true,
      runs: DELETE_RUNS,
    },
    {
      key: "delete-reports",
      call: "deleteQueue('reports')  -- has queued jobs: refused",
      invoke: (db) => queries.deleteQueue(db, "reports"),
      writes: true,
    },
  ];
}

/** What `pg_stat_user_tables` says of `_jobs`. */
interface TableStats {
  live: number;
  dead: number;
  vacuums: number;
  autovacuums: number;
  analyzes: number;
  autoanalyzes: number;
}

async function tableStats(conn: Conn): Promise<TableStats> {
  const [row] = await rows(
    conn,
    `select n_live_tup, n_dead_tup, vacuum_count, autovacuum_count, analyze_count,
            autoanalyze_count
     from pg_stat_user_tables where relid = $1::regclass`,
    [`${SCHEMA}._jobs`],
  );
  const [live, dead, vacuums, autovacuums, analyzes, autoanalyzes] = (row ?? []).map(Number);
  return {
    live: live!,
    dead: dead!,
    vacuums: vacuums!,
    autovacuums: autovacuums!,
    analyzes: analyzes!,
    autoanalyzes: autoanalyzes!,
  };
}

interface Facts {
  version: string;
  settings: Array<[string, string]>;
  counts: Array<[string, string, number]>;
  total: number;
  /** Relation, size, kind ('r' or 'i'), index definition. */
  relations: Array<[string, string, string, string]>;
  migrations: string[];
  stats: [TableStats, TableStats];
  minutes: number;
}

async function main(): Promise<void> {
  const started = performance.now();
  const loader = await sql.reserve();
  try {
    await load(loader);
  } finally {
    loader.release();
  }
  // Measured on a connection opened after the migration: postgres.js learns the array types a
  // connection can send when the connection opens, and it could not send listJobs' `job_state[]`
  // on one opened before the migration created the type.
  const msql = postgres(DATABASE_URL, { max: 1, onnotice: () => undefined });
  const conn = await msql.reserve();
  try {
    const [[version]] = (await rows(conn, "select version()")) as [[string]];
    const settings = (await rows(
      conn,
      `select name, setting || coalesce(' (' || unit || ')', '') from pg_settings
       where name in ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost',
                      'jit', 'max_parallel_workers_per_gather', 'plan_cache_mode',
                      'synchronize_seqscans', 'autovacuum')
       order by name`,
    )) as Array<[string, string]>;
    // Every Seq Scan starts at the table's first page: with synchronized scans (the default) a
    // scan of a large table starts where a recent one stopped, and the repeated runs of a refused
    // deleteQueue found the unfinished job at once.
    await conn.unsafe("set synchronize_seqscans = off");
    const before = await tableStats(conn);
    const picks = await pick(conn);
    const all = cases(picks);
    log("\nexplain and time");
    for (const c of all) await measure(conn, c);
    deleteWal = await rolledBack(conn, async () => {
      const [[start]] = (await rows(conn, "select pg_current_wal_insert_lsn()::text")) as [
        [string],
      ];
      const c = all.find((x) => x.key === "delete-archive")!;
      await conn.unsafe(c.text!, c.params as never[]);
      const [[bytes]] = (await rows(
        conn,
        "select pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1::pg_lsn)",
        [start],
      )) as [[string]];
      return Number(bytes);
    });
    const after = await tableStats(conn);
    const counts = (
      await rows(
        conn,
        `select queue, state::text, count(*) from ${jobs} group by 1, 2 order by 1, 2`,
      )
    ).map(([queue, state, n]) => [queue as string, state as string, Number(n)]) as Array<
      [string, string, number]
    >;
    const relations = (
      await rows(
        conn,
        `select c.relname, pg_size_pretty(pg_relation_size(c.oid)), c.relkind::text,
                coalesce(regexp_replace(i.indexdef, '^.* USING (btree )?', ''), '')
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         left join pg_indexes i on i.schemaname = n.nspname and i.indexname = c.relname
         where n.nspname = $1 and c.relname like '\\_jobs%' and c.relkind in ('r', 'i')
         order by c.relkind desc, pg_relation_size(c.oid) desc`,
        [SCHEMA],
      )
    ).map((row) => row.map(String)) as Array<[string, string, string, string]>;
    const migrations = (
      await rows(conn, `select version, name from ${s}._migrations order by version`)
    ).map(([v, name]) => `${String(v).padStart(4, "0")}_${String(name)}`);
    const minutes = (performance.now() - started) / 60_000;
    const doc = report(all, {
      version,
      settings,
      counts,
      total: counts.reduce((sum, [, , n]) => sum + n, 0),
      relations: relations.map(([name, size, kind, def]) => [
        name,
        size,
        kind,
        def.replaceAll(`${SCHEMA}.`, ""),
      ]),
      migrations,
      stats: [before, after],
      minutes,
    });
    await writeFormatted(OUT, doc);
    log(`\nwrote ${OUT} (run took ${minutes.toFixed(1)} min)`);
  } finally {
    conn.release();
    await msql.end();
    if (!KEEP) await sql.unsafe(`drop schema if exists ${s} cascade`);
    else log(`kept schema ${SCHEMA}`);
    await sql.end();
  }
}

// ---------------------------------------------------------------------------------------------
// Reading plans

/** The plan's Execution Time, as printed (in ms). */
function execTime(plan: string): string {
  return /Execution Time: ([\d.]+) ms/.exec(plan)?.[1] ?? "?";
}

/** Shared buffers hit + read of the whole statement (the top node's). */
function buffers(plan: string): number | undefined {
  const line = plan.match(/Buffers: shared [^\n]*/)?.[0];
  if (!line) return undefined;
  return (num(line, /hit=(\d+)/) ?? 0) + (num(line, /read=(\d+)/) ?? 0);
}

/** A scan of `_jobs` in a plan, with what it read (all loops). */
interface Scan {
  /** "Index Scan Backward using _jobs_pkey", "Seq Scan", ... */
  name: string;
  /** Where in the plan: the CTE, InitPlan or SubPlan it sits in, if any. */
  within?: string;
  rows: number;
  removed: number;
  heapFetches?: number;
  indexCond?: string;
  filter?: string;
  /** The planner's estimate of the rows it returns, per loop. */
  estimated: number;
}

/** Every executed scan of `_jobs` (Bitmap Index Scans left out: their heap scan counts). */
function scans(plan: string): Scan[] {
  const lines = plan.split("\n");
  const out: Scan[] = [];
  let within: string | undefined;
  lines.forEach((line, at) => {
    const section = /^\s*(CTE \w+|InitPlan \d+|SubPlan \d+)/.exec(line)?.[1];
    if (section) within = section;
    const m =
      /((?:Parallel )?(?:Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan)(?: Backward)?(?: using \w+)?) on _jobs\b.*actual time=[\d.]+\.\.[\d.]+ rows=(\d+) loops=(\d+)/.exec(
        line,
      );
    if (!m) return;
    const details: string[] = [];
    for (const next of lines.slice(at + 1)) {
      if (/->|^\S|^\s*(CTE|InitPlan|SubPlan) /.test(next)) break;
      details.push(next.trim());
    }
    const text = details.join("\n");
    const loops = Number(m[3]);
    out.push({
      name: m[1]!,
      ...(within ? { within } : {}),
      rows: Number(m[2]) * loops,
      removed: (num(text, /Rows Removed by Filter: (\d+)/) ?? 0) * loops,
      ...(/Heap Fetches/.test(text) ? { heapFetches: num(text, /Heap Fetches: (\d+)/)! } : {}),
      ...(/Index Cond/.test(text) ? { indexCond: /Index Cond: ([^\n]*)/.exec(text)![1]! } : {}),
      ...(/Filter:/.test(text) ? { filter: /Filter: ([^\n]*)/.exec(text)![1]! } : {}),
      estimated: num(line, /cost=[\d.]+\.\.[\d.]+ rows=(\d+)/) ?? NaN,
    });
  });
  return out;
}

/** Rows the scans of `_jobs` read: returned plus removed by their filters. */
function rowsRead(plan: string): number {
  return scans(plan).reduce((sum, scan) => sum + scan.rows + scan.removed, 0);
}

/** The scans of `_jobs`, short, for a table cell. */
function access(plan: string): string {
  const names = [...new Set(scans(plan).map((scan) => scan.name))];
  return names.length ? names.map((name) => `\`${name}\``).join(", ") : "none";
}

// ---------------------------------------------------------------------------------------------
// docs/operator-explain.md

/** What the report's sections share. */
interface Ctx {
  f: Facts;
  all: Case[];
  byKey(key: string): Case;
  /** The custom plan of a case. */
  plan(key: string): string;
  /** Jobs of `queue` (of every queue when null) in the given states. */
  count(queue: string | null, states: string[]): number;
  /** The call of a case, without its comment. */
  call(key: string): string;
  /** The first scan of `_jobs` in a case's plan whose name matches. */
  scan(key: string, pattern: RegExp): Scan | undefined;
  /** Whether a case's plan reads at least half of the table. */
  most(key: string): boolean;
  timing(key: string): string;
}

const FINISHED_STATES = ["completed", "failed", "cancelled"];
const UNFINISHED_STATES = ["waiting", "scheduled", "queued", "running"];

function report(all: Case[], f: Facts): string {
  const byKey = (key: string): Case => {
    const c = all.find((x) => x.key === key);
    if (!c) throw new Error(`no case ${key}`);
    return c;
  };
  const ctx: Ctx = {
    f,
    all,
    byKey,
    plan: (key) => byKey(key).plan!,
    count: (queue, states) =>
      f.counts
        .filter(([q, state]) => (queue === null || q === queue) && states.includes(state))
        .reduce((sum, [, , n]) => sum + n, 0),
    call: (key) => byKey(key).call.replace(/ {2}-- .*$/, ""),
    scan: (key, pattern) => scans(byKey(key).plan!).find((scan) => pattern.test(scan.name)),
    most: (key) => rowsRead(byKey(key).plan!) >= f.total / 2,
    timing: (key) => {
      const t = byKey(key).timing!;
      return (
        `p50 ${ms(t.p50)}, p95 ${ms(t.p95)} over ${t.runs} runs` +
        (t.cache ? ` (plan cache: ${t.cache})` : "")
      );
    },
  };
  const out: string[] = [];
  const p = (...lines: string[]) => out.push(...lines, "");
  setup(p, ctx);
  summary(p, ctx);
  listJobsSection(p, ctx);
  listQueuesSection(p, ctx);
  lookupsSection(p, ctx);
  deleteQueueSection(p, ctx);
  concerns(p, ctx);
  p("## Plans");
  p(
    "`EXPLAIN (ANALYZE, BUFFERS, VERBOSE off, COSTS on)` with bound parameters (custom plans); " +
      "generic plans are `EXECUTE` of a `PREPARE`d statement under `plan_cache_mode = " +
      "force_generic_plan`. Writes were explained in transactions that were rolled back.",
  );
  for (const c of all) {
    p(`### ${c.call.replace(/ {2}-- .*$/, "")}`, "```text", c.plan!, "```");
    if (c.genericPlan) {
      p(`### ${c.call.replace(/ {2}-- .*$/, "")}, generic plan`, "```text", c.genericPlan, "```");
    }
  }
  return `${out.join("\n").trimEnd()}\n`;
}

type Para = (...lines: string[]) => void;

function setup(p: Para, ctx: Ctx): void {
  const { f } = ctx;
  p("# Operator statements with a large jobs table");
  p(
    `Generated by \`bench/explain-operator.ts\` (\`node --import tsx bench/explain-operator.ts\`) ` +
      `on ${new Date().toISOString().slice(0, 10)}; the whole run took ` +
      `${f.minutes.toFixed(1)} minutes. Re-running it overwrites this file. All numbers below ` +
      "come from one run on one machine: they show plan shapes and orders of magnitude, not a " +
      "throughput benchmark. The statements are those an operator, the dashboard or a remote " +
      "consumer runs: job listings (`client.jobs()`, `GET /api/jobs`), queue listings " +
      "(`client.queues()`, `GET /api/queues`), a job by id, a remote consumer's heartbeat, and " +
      "deleting a queue. `queueStats` is in docs/claim-explain.md.",
  );
  p("## Setup");
  p(
    `- Machine: \`nproc\` = ${nproc()}, ${cpus()[0]?.model ?? "unknown CPU"}, ` +
      `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM` +
      (["127.0.0.1", "localhost", "::1", "[::1]", ""].includes(new URL(DATABASE_URL).hostname)
        ? " (the database runs on the same machine as the script)."
        : "."),
    `- PostgreSQL: \`${f.version}\``,
    `- Settings: ${f.settings.map(([name, value]) => `\`${name}\` = ${value}`).join(", ")}; ` +
      "the measuring session turned `synchronize_seqscans` off (see “deleteQueue”).",
    `- Schema \`${SCHEMA}\`, migrated with \`migrate()\` (${f.migrations
      .map((m) => `\`${m}\``)
      .join(", ")}), so the indexes are the migrations' own. Queues \`emails\`, \`reports\` ` +
      "and `archive`. Jobs loaded with `insert … select … from generate_series(…)`, then " +
      "`VACUUM ANALYZE`.",
  );
  p(
    "| load step | seconds |",
    "| --- | ---: |",
    ...loadSteps.map(([label, seconds]) => `| ${label} | ${seconds.toFixed(1)} |`),
  );
  p(
    "Rows after loading. `archive` is a queue idle for a week: its jobs finished 8 to 14 days " +
      "ago. The finished jobs of `emails` and `reports` (one in " +
      `${REPORTS_EVERY}) span the past week, failed and cancelled ones spread evenly among the ` +
      "completed ones. The queued jobs were created over the past hour (one in 100 in " +
      "`reports`), the scheduled ones are due from 10 minutes ahead, and the running ones hold " +
      "leases that outlast the run:",
  );
  p(
    "| queue | state | rows |",
    "| --- | --- | ---: |",
    ...f.counts.map(([queue, state, n]) => `| ${queue} | ${state} | ${fmt(n)} |`),
    `| **all** | | **${fmt(f.total)}** |`,
  );
  p(
    "Ids come from the schema's `uuid_v7()` at insert time, so id order, the order of the job " +
      "listings, is the order of the inserts: `archive`'s jobs are the oldest, then the week of " +
      "finished jobs, then the running jobs, the queued backlog and the scheduled jobs, the " +
      "newest. The heap is in the same order (one insert after the other into an empty table).",
  );
  p("Relations after loading (index definitions from `pg_indexes`, schema prefix left out):");
  p(
    "| relation | size | definition |",
    "| --- | ---: | --- |",
    ...f.relations.map(
      ([name, size, kind, def]) =>
        `| \`${name}\`${kind === "r" ? " (table)" : ""} | ${size} | ${def ? `\`${def}\`` : ""} |`,
    ),
  );
  const [s0, s1] = f.stats;
  const autovacuum = f.settings.find(([name]) => name === "autovacuum")?.[1];
  p(
    (autovacuum === "off"
      ? "Autovacuum is off on this server (`autovacuum` above), so no autovacuum or " +
        "autoanalyze could run during the measurements; the table's own settings are the " +
        "migration's "
      : "The table keeps the migration's autovacuum settings ") +
      "(`autovacuum_vacuum_scale_factor`, `autovacuum_analyze_scale_factor` = 0.02). " +
      "`pg_stat_user_tables` for `_jobs` before " +
      `the measurements: ${fmt(s0.live)} live and ${fmt(s0.dead)} dead tuples, ` +
      `${s0.vacuums} vacuum and ${s0.analyzes} analyze (the load's), ${s0.autovacuums} ` +
      `autovacuum and ${s0.autoanalyzes} autoanalyze; after them ${fmt(s1.dead)} dead tuples ` +
      `(row versions of the rolled-back writes), ${s1.autovacuums} autovacuum and ` +
      `${s1.autoanalyzes} autoanalyze. So every plan ran on the statistics and the visibility ` +
      "map of the `VACUUM ANALYZE` after loading.",
  );
  p(
    "How each statement was called. Each case calls the `Queries` method the client calls " +
      "(`listJobs`, `listQueues`, `getJob`, `extendLease`, `deleteQueue`) against a stand-in " +
      "that records what `Queries.run` sends, so the text, the parameters and the choice to " +
      "prepare are the client's own. `listJobs` gets the internal states of a public one " +
      "(`queued` is `{queued,scheduled,waiting}`) and runs unprepared, so that each call is " +
      "planned with its values (postgres.js then parses and describes the statement before " +
      "binding it: two round trips); the others run as named prepared statements, which " +
      "PostgreSQL plans with their values for five runs and may then replace with a generic " +
      "plan. Each plan below is `EXPLAIN (ANALYZE, BUFFERS)` of the statement with bound " +
      "parameters, planned with their values; when the plan cache switched to the generic plan " +
      "during the timed runs, the generic plan is explained too. Timings are the round trip " +
      `measured in Node, ${RUNS} runs unless said otherwise, on one connection (so a statement ` +
      "prepared by one case is already prepared for the next case of the same statement); " +
      "writes (`extendLease`, `deleteQueue`) ran each in a transaction that was rolled back, " +
      `BEGIN and ROLLBACK not timed. The listings ask for ${LIMIT} rows: \`client.jobs()\` ` +
      `pages hold ${PAGE} by default (the dashboard's default too) and it asks for one more to ` +
      "know whether there is a next page.",
  );
}

function summary(p: Para, ctx: Ctx): void {
  p("## Summary");
  p(
    "Rows read: rows that the plan's scans of `_jobs` returned plus those their filters " +
      "removed, all loops; buffers: shared hit + read of the whole statement; Execution Time " +
      `from the plan (one run); p50 from the timed runs (on this shared ${nproc()}-CPU machine the two ` +
      "differ by tens of percent either way). **Bold**: a plan whose scans of `_jobs`, of the " +
      `heap or index-only, cover at least half of the table's ${fmt(ctx.f.total)} rows.`,
  );
  p(
    "| call | `_jobs` read through | rows read | buffers | Execution Time | p50 |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
    ...ctx.all.map((c) => {
      const read = fmt(rowsRead(c.plan!));
      return (
        `| \`${ctx.call(c.key)}\` | ${access(c.plan!)} | ` +
        `${ctx.most(c.key) ? `**${read}**` : read} | ${fmt(buffers(c.plan!))} | ` +
        `${execTime(c.plan!)} ms | ${ms(c.timing!.p50)} |`
      );
    }),
  );
}

/** A case's plan is one backward walk of the primary key, and nothing else reads `_jobs`. */
function pkeyWalk(ctx: Ctx, key: string): Scan | undefined {
  const found = scans(ctx.plan(key));
  return found.length === 1 && found[0]!.name === "Index Scan Backward using _jobs_pkey"
    ? found[0]
    : undefined;
}

/** "N rows read, B buffers, Execution Time E ms, p50 P" for a case. */
function brief(ctx: Ctx, key: string): string {
  const plan = ctx.plan(key);
  const read = rowsRead(plan);
  return (
    `${fmt(read)} ${read === 1 ? "row" : "rows"} read, ${fmt(buffers(plan))} buffers, ` +
    `Execution Time ${execTime(plan)} ms, p50 ${ms(ctx.byKey(key).timing!.p50)}`
  );
}

function ordinal(n: number): string {
  const suffix = n % 100 >= 11 && n % 100 <= 13 ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th");
  return `${n}${suffix}`;
}

function listJobsSection(p: Para, ctx: Ctx): void {
  const { f } = ctx;
  p("## listJobs");
  p(
    "`listJobs` (sql/queries/job.sql) selects `where ($1 is null or queue = $1) and ($2 is " +
      "null or state = any($2)) and ($3 is null or id < $3) order by id desc limit $4`, with " +
      "each job's queue joined for its `max_attempts`. Planned with its values, the conditions " +
      "not given fold away. The planner then chooses between walking `_jobs_pkey` backwards " +
      `(newest first, checking the remaining conditions on each row, stopping after ${LIMIT} ` +
      "matches) and, for failed or cancelled jobs, `_jobs_failed_idx (queue, id)`. It prices " +
      "a walk by the matching rows' share of the whole table; what the walk actually reads is " +
      `every row newer than the ${ordinal(LIMIT)} match, which depends on when the matching jobs were ` +
      "created.",
  );
  const bullets: string[] = [];
  const cheap = ["list", "list-emails", "list-queued", "list-deep"];
  const cheapOk = cheap.every((key) => pkeyWalk(ctx, key) && rowsRead(ctx.plan(key)) <= 2 * LIMIT);
  bullets.push(
    "- **The newest jobs, with no condition or a common one.** " +
      (cheapOk
        ? `Each plan walks \`_jobs_pkey\` backwards and stops after ${LIMIT} rows: ` +
          cheap.map((key) => `\`${ctx.call(key)}\`: ${brief(ctx, key)}`).join("; ") +
          ". `emails` holds most jobs, and the queued jobs are the newest, so the first rows " +
          "of the walk match. With the cursor the walk starts at `Index Cond: (id < …)`: page " +
          `${DEEP_PAGE} costs what page 1 costs (keyset pagination). These read about as many ` +
          "rows as they return, whatever the size of the table. The p50s are mostly the two " +
          "round trips and the planning of an unprepared statement."
        : "**Not every one of these plans is a short walk of the primary key**: " +
          cheap
            .map((key) => `\`${ctx.call(key)}\`: ${access(ctx.plan(key))}, ${brief(ctx, key)}`)
            .join("; ") +
          "."),
  );
  const reports = ctx.count("reports", [...FINISHED_STATES, ...UNFINISHED_STATES]);
  const small = pkeyWalk(ctx, "list-reports");
  const smallDeep = pkeyWalk(ctx, "list-deep-reports");
  bullets.push(
    `- **A small queue** (\`reports\`: ${fmt(reports)} of ${fmt(f.total)} jobs, about one in ` +
      `${Math.round(f.total / reports)}). ` +
      (small
        ? "The same walk, with `Filter: (queue = 'reports'::text)`: " +
          `${brief(ctx, "list-reports")}, ${fmt(small.removed)} of the rows read removed by the ` +
          "filter. A walk reads about the limit divided by the queue's share of the newest " +
          "jobs, so this scales with that share, not with the table: a queue with one job in " +
          `10,000 would read about ${fmt(LIMIT * 10_000)} rows per page. ` +
          (smallDeep
            ? `From the cursor of page ${DEEP_PAGE}: ${brief(ctx, "list-deep-reports")}.`
            : `From the cursor of page ${DEEP_PAGE}: ${access(ctx.plan("list-deep-reports"))}, ` +
              `${brief(ctx, "list-deep-reports")}.`)
        : `**Not a walk of the primary key**: ${access(ctx.plan("list-reports"))}, ` +
          `${brief(ctx, "list-reports")}.`),
  );
  const idle = pkeyWalk(ctx, "list-archive");
  const archive = ctx.count("archive", [...FINISHED_STATES, ...UNFINISHED_STATES]);
  bullets.push(
    `- **An idle queue${ctx.most("list-archive") ? " reads most of the table" : ""}.** ` +
      `\`archive\`'s ${fmt(archive)} jobs are all older than every job of the other queues. ` +
      (idle
        ? "The planner walks `_jobs_pkey` backwards as for the other queues (it estimated " +
          `rows=${fmt(idle.estimated)} for the queue, so it expected ${LIMIT} matches within ` +
          `about ${fmt(Math.round((LIMIT * f.total) / idle.estimated))} rows), and the walk ` +
          "passes every newer job first: " +
          `${brief(ctx, "list-archive")} (p95 ${ms(ctx.byKey("list-archive").timing!.p95)}), ` +
          `${fmt(idle.removed)} of the rows read removed by the filter. The cost grows with the ` +
          "jobs that other " +
          "queues received since the queue's newest job: the whole table here. Queues like " +
          "that exist: a dead-letter queue, which receives only jobs that failed for good, or " +
          "a queue whose producer was switched off; listing them in the dashboard (its queue " +
          "filter) reads everything newer."
        : `**Not a walk of the primary key**: ${access(ctx.plan("list-archive"))}, ` +
          `${brief(ctx, "list-archive")}.`),
  );
  const failedAll = ctx.scan("list-failed", /_jobs_failed_idx/);
  const failedEmails = ctx.scan("list-failed-emails", /_jobs_failed_idx/);
  const failedReports = ctx.scan("list-failed-reports", /_jobs_failed_idx/);
  const failedSort = /Sort Method: ([^\n]*)/.exec(ctx.plan("list-failed"))?.[1]?.trim();
  bullets.push(
    `- **Failed jobs** (${fmt(ctx.count(null, ["failed"]))} failed and ` +
      `${fmt(ctx.count(null, ["cancelled"]))} cancelled in all, the entries of ` +
      "`_jobs_failed_idx`). " +
      (failedAll && scans(ctx.plan("list-failed")).length === 1
        ? `Without a queue the plan reads \`_jobs_failed_idx\` (\`${failedAll.name}\`` +
          (failedAll.indexCond
            ? `, \`Index Cond: ${failedAll.indexCond}\`)`
            : ", no Index Cond: the index leads with the queue, so the scan reads it whole)") +
          `: ${fmt(failedAll.rows + failedAll.removed)} entries, ${fmt(failedAll.removed)} ` +
          "of them cancelled jobs removed by the Filter, then " +
          (failedSort ? `a Sort (\`${failedSort}\`) ` : "a Sort ") +
          `keeps the newest ${LIMIT}: ${brief(ctx, "list-failed")}. It grows with the failed ` +
          "and cancelled jobs kept (of every queue, until retention deletes them), not with " +
          "the other jobs. "
        : "**Without a queue the plan does not read only `_jobs_failed_idx`**: " +
          `${access(ctx.plan("list-failed"))}, ${brief(ctx, "list-failed")}. `) +
      (failedEmails && failedReports
        ? "With a queue the plan walks that index backwards within the queue " +
          `(\`Index Cond: ${failedEmails.indexCond ?? "?"}\`) and stops after ${LIMIT} ` +
          `matches: \`emails\`, ${fmt(failedEmails.removed)} cancelled jobs removed, ` +
          `${brief(ctx, "list-failed-emails")}; \`reports\`, which has ` +
          `${fmt(ctx.count("reports", ["failed"]))} failed jobs, fewer than a page, ` +
          `${brief(ctx, "list-failed-reports")}. These scale.`
        : `With a queue: \`emails\`, ${access(ctx.plan("list-failed-emails"))}, ` +
          `${brief(ctx, "list-failed-emails")}; \`reports\`, ` +
          `${access(ctx.plan("list-failed-reports"))}, ${brief(ctx, "list-failed-reports")}.`),
  );
  const completed = pkeyWalk(ctx, "list-completed");
  const unfinished = ctx.count(null, UNFINISHED_STATES);
  const completedShare = ctx.count(null, ["completed"]) / f.total;
  bullets.push(
    "- **Completed jobs, newest first, read the backlog first.** " +
      (completed
        ? "The plan walks `_jobs_pkey` backwards with `Filter: (state = ANY " +
          "('{completed}'))`. Every unfinished job (" +
          `${fmt(unfinished)}: queued, scheduled, running) is newer than the newest completed ` +
          `one, so the walk removed ${fmt(completed.removed)} rows before the first match: ` +
          `${brief(ctx, "list-completed")}. The planner ` +
          `expected about ${fmt(Math.round(LIMIT / completedShare))} rows (completed jobs are ` +
          `${(completedShare * 100).toFixed(0)}% of the table). The cost grows with the ` +
          "backlog, not with the finished jobs: with a million queued jobs, the first page of " +
          "completed jobs reads a million rows. `_jobs_finished_idx (queue, finished_at)` " +
          "could serve it only by sorting every completed job (it is in finish-time order and " +
          "leads with the queue)."
        : `The plan: ${access(ctx.plan("list-completed"))}, ${brief(ctx, "list-completed")}.`),
  );
  p(...bullets);
}

function listQueuesSection(p: Para, ctx: Ctx): void {
  p("## listQueues");
  p(
    "`listQueues` (sql/queries/queue.sql) returns every queue (`$1` null) or one, with its " +
      "options and its jobs counted by state: for each queue, one count per unfinished state " +
      "in that state's partial index (SubPlans 1 to 4) and the finished counts in " +
      "`_jobs_finished_idx` (a lateral aggregate). The scans of `_jobs` in the two plans " +
      "(rows: all loops; with `null`, one loop per queue):",
  );
  const keys = ["queues", "queues-emails"];
  p(
    "| call | scan | rows | Heap Fetches |",
    "| --- | --- | ---: | ---: |",
    ...keys.flatMap((key) =>
      scans(ctx.plan(key)).map(
        (scan) =>
          `| \`${ctx.call(key)}\` | \`${scan.name}\` | ${fmt(scan.rows)} | ` +
          `${fmt(scan.heapFetches)} |`,
      ),
    ),
  );
  const finishedRows = (key: string) =>
    scans(ctx.plan(key))
      .filter((scan) => /_jobs_finished_idx/.test(scan.name))
      .reduce((sum, scan) => sum + scan.rows, 0);
  const queuedRows = (key: string) =>
    scans(ctx.plan(key))
      .filter((scan) => /_jobs_claim_idx/.test(scan.name))
      .reduce((sum, scan) => sum + scan.rows, 0);
  const indexOnly = keys.every((key) =>
    scans(ctx.plan(key)).every((scan) => /^Index Only Scan/.test(scan.name)),
  );
  const all = ctx.byKey("queues");
  const one = ctx.byKey("queues-emails");
  p(
    (indexOnly
      ? "- Every count is an index-only scan of its own partial index, so no count reads the " +
        "heap (Heap Fetches 0 on a freshly vacuumed table) or another state's entries. But " +
        "each reads every entry it counts. "
      : "- **Not every count is an index-only scan**: see the plans. ") +
      `\`${ctx.call("queues")}\` read ${fmt(rowsRead(all.plan!))} entries, ` +
      `${fmt(finishedRows("queues"))} of them finished jobs (every finished job of every ` +
      `queue) and ${fmt(queuedRows("queues"))} queued ones (the whole backlog): ` +
      `${fmt(buffers(all.plan!))} buffers, ${execTime(all.plan!)} ms; ${ctx.timing("queues")}. ` +
      `For \`emails\` alone, ${brief(ctx, "queues-emails")}.`,
    "- It grows with the finished jobs kept, which retention bounds (7 days unless a queue " +
      "says otherwise), and with the backlog. The dashboard reads `GET /api/queues` " +
      "(`client.queues()`: this statement with `null`) on every refresh: every 10 s while the " +
      "page is visible, and at most every 2 s while jobs change (src/server/dashboard/app.js), " +
      "so each open dashboard runs it up to every 2 s.",
    (all.genericPlan
      ? `- The prepared statement switched to its generic plan after five runs; that plan has ` +
        "the same scans, with `(($1 IS NULL) OR (name = $1))` as a Filter on `_queues` " +
        `(Execution Time ${execTime(all.genericPlan)} ms). `
      : "") +
      (one.timing!.cache?.startsWith("0 generic")
        ? ""
        : `\`${ctx.call("queues-emails")}\` ran the same prepared statement on the same ` +
          `connection (plan cache: ${one.timing!.cache ?? "?"}).`),
  );
}

function lookupsSection(p: Para, ctx: Ctx): void {
  p("## getJob and extendLease");
  const job = ctx.scan("job", /_jobs_pkey/);
  const lease = ctx.scan("lease", /_jobs_pkey/);
  const trigger = (plan: string | undefined) =>
    plan?.match(/Trigger _jobs_after_update[^:]*: time=([\d.]+)/)?.[1] ?? "?";
  const leaseCase = ctx.byKey("lease");
  p(
    "- `getJob` with a null queue (`client.job(id)`): " +
      (job && scans(ctx.plan("job")).length === 1
        ? `\`${job.name}\` (\`Index Cond: ${job.indexCond ?? "?"}\`), the queue joined for ` +
          `its \`max_attempts\`: ${brief(ctx, "job")} (plan cache: ` +
          `${ctx.byKey("job").timing!.cache ?? "?"}). ` +
          (ctx.byKey("job").genericPlan
            ? "The generic plan is the same lookup, with `(($2 IS NULL) OR (queue = $2))` as " +
              `a Filter (${execTime(ctx.byKey("job").genericPlan!)} ms). `
            : "") +
          "One descent of the primary key: its cost does not grow with the table."
        : `${access(ctx.plan("job"))}, ${brief(ctx, "job")}.`),
    "- `extendLease` (a remote consumer's heartbeat, `POST /api/jobs/{id}/heartbeat`): " +
      (lease && scans(ctx.plan("lease")).length === 1
        ? `\`${lease.name}\` (\`Index Cond: ${lease.indexCond ?? "?"}\`, the token and the ` +
          "state checked by the Filter), the queue joined for its lease time, one row " +
          `updated: ${brief(ctx, "lease")} (plan cache: ${leaseCase.timing!.cache ?? "?"}). ` +
          `The \`_jobs_after_update\` trigger took ${trigger(leaseCase.plan)} ms of that ` +
          "Execution Time, its first call in the session, which compiles it " +
          `(${trigger(leaseCase.genericPlan)} ms in the generic-plan run). Its cost does not ` +
          "grow with the table."
        : `${access(ctx.plan("lease"))}, ${brief(ctx, "lease")}.`),
  );
}

function deleteQueueSection(p: Para, ctx: Ctx): void {
  p("## deleteQueue");
  const plan = ctx.plan("delete-archive");
  const all = scans(plan);
  const doomed = all.find((scan) => /Bitmap Heap Scan|Seq Scan|finished_idx/.test(scan.name));
  const checks = all.filter((scan) => scan !== doomed).map((scan) => `\`${scan.name}\``);
  const deleteNode = /Delete on _jobs \w+ .*actual time=[\d.]+\.\.([\d.]+)/.exec(plan)?.[1];
  const c = ctx.byKey("delete-archive");
  p(
    "`deleteQueue` (sql/queries/queue.sql) deletes a queue and its finished jobs in one " +
      "statement, after checking that nothing would be left dangling (no unfinished job, no " +
      "schedule, no queue dead-lettering into it). For `archive` " +
      `(${fmt(ARCHIVE)} finished jobs and nothing else):`,
  );
  p(
    "- the blocker checks each unfinished state with its own `exists`, so each probes that " +
      `state's partial index for the queue: ${checks.join(", ") || "see the plan"}, each ` +
      "stopping at its first entry (none here).",
    "- the delete's `where queue = $1 and state in ('completed', 'failed', 'cancelled')`: " +
      (doomed
        ? `\`${doomed.name}\`, ${fmt(doomed.rows + doomed.removed)} rows read, ` +
          `${fmt(doomed.rows)} deleted. ` +
          (/Seq Scan/.test(doomed.name)
            ? "**A Seq Scan: no index served it.**"
            : "It reads the queue's finished jobs through `_jobs_finished_idx`, not the table.")
        : "see the plan."),
  );
  p(
    `Execution Time ${execTime(plan)} ms (the Delete node ${deleteNode ?? "?"} ms), ` +
      `${fmt(buffers(plan))} buffers; ${ctx.timing("delete-archive")}, each run rolled back. ` +
      (c.genericPlan
        ? `The generic plan, used after five runs, reads \`_jobs\` the same way ` +
          `(${access(c.genericPlan)}; ${execTime(c.genericPlan)} ms). `
        : "") +
      (deleteWal !== undefined
        ? `One more run, rolled back, wrote ${(deleteWal / 2 ** 20).toFixed(1)} MB of WAL ` +
          `(\`pg_current_wal_insert_lsn()\` before and after). `
        : "") +
      "The statement deletes every finished job of the queue in one transaction: the time, the " +
      "WAL and the row locks grow with the queue's finished jobs (not with the table), and the " +
      "deleted rows stay in the table and its indexes as dead tuples until vacuum.",
  );
  const refused = ctx.plan("delete-reports");
  const refusedScan = scans(refused)[0];
  p(
    "Refused (`deleteQueue('reports')`, which has queued jobs): " +
      (refusedScan
        ? `the blocker's \`${refusedScan.name}\` found the queue's first queued job at once ` +
          "and the rest did not run (`One-Time Filter`, `never executed`): " +
          `${brief(ctx, "delete-reports")}. It probes an index, so where the job sits in the ` +
          "table does not matter."
        : `${brief(ctx, "delete-reports")}.`),
  );
}

function concerns(p: Para, ctx: Ctx): void {
  const items: string[] = [];
  const idle = pkeyWalk(ctx, "list-archive");
  if (idle && ctx.most("list-archive")) {
    items.push(
      "- **Listing the jobs of a queue whose jobs are old reads every newer job.** " +
        `\`${ctx.call("list-archive")}\` read ${fmt(rowsRead(ctx.plan("list-archive")))} rows ` +
        `(${execTime(ctx.plan("list-archive"))} ms, p50 ` +
        `${ms(ctx.byKey("list-archive").timing!.p50)}) to return ${LIMIT}: the walk of ` +
        "`_jobs_pkey` passes every job of other queues created since. Dead-letter queues " +
        "and queues whose producers stopped are like that. No index serves a queue's jobs in " +
        "id order: every index but the primary key is partial on states. Option, not " +
        "measured here: an index on `(queue, id)`. It would also match the claim's `queue = " +
        "$1`, which migration 0001 avoids for every index but `_jobs_claim_idx` (its comment " +
        "on `_jobs_finished_idx`), so its effect on the claim before the first ANALYZE would " +
        "need checking (bench/explain-claim.ts measures that case); and every insert and " +
        "state change would write to it.",
    );
  }
  const completed = pkeyWalk(ctx, "list-completed");
  if (completed && completed.removed > 10 * LIMIT) {
    items.push(
      "- **Listing completed jobs reads the whole backlog first.** " +
        `\`${ctx.call("list-completed")}\` removed ${fmt(completed.removed)} unfinished rows ` +
        `before its first match (${execTime(ctx.plan("list-completed"))} ms, p50 ` +
        `${ms(ctx.byKey("list-completed").timing!.p50)}); it grows with the backlog, the ` +
        "moment an operator is most likely to look. Option, not measured here: an index on " +
        "`(id)` or `(state, id)` partial on the finished states, which a completed listing " +
        "would walk backwards.",
    );
  }
  const finishedRead = scans(ctx.plan("queues"))
    .filter((scan) => /_jobs_finished_idx/.test(scan.name))
    .reduce((sum, scan) => sum + scan.rows, 0);
  if (finishedRead >= ctx.count(null, FINISHED_STATES) / 2) {
    items.push(
      "- **`listQueues` counts every finished job on every call.** " +
        `\`${ctx.call("queues")}\` read ${fmt(finishedRead)} finished entries ` +
        `(${execTime(ctx.plan("queues"))} ms, p50 ${ms(ctx.byKey("queues").timing!.p50)}), and ` +
        "each open dashboard runs it up to every 2 s. The same holds for `queueStats` " +
        "(docs/claim-explain.md). Options, not measured here: leave the finished counts out of " +
        "the listing (or out of the dashboard's periodic refresh) and read them for one queue " +
        "on demand; or keep per-queue counters, at a write on every finish.",
    );
  }
  const del = scans(ctx.plan("delete-archive"));
  const seq = del.filter((scan) => /Seq Scan/.test(scan.name));
  if (seq.length > 0) {
    items.push(
      `- **\`deleteQueue\` reads the whole table ${seq.length === 1 ? "once" : seq.length === 2 ? "twice" : `${seq.length} times`}.** ` +
        `\`${ctx.call("delete-archive")}\`: ${seq.length} Seq Scan${seq.length === 1 ? "" : "s"} ` +
        `of \`_jobs\`, ${fmt(rowsRead(ctx.plan("delete-archive")))} rows read ` +
        `(${execTime(ctx.plan("delete-archive"))} ms, p50 ` +
        `${ms(ctx.byKey("delete-archive").timing!.p50)}), to delete ${fmt(ARCHIVE)}. It is an ` +
        "operator's action, rare, but its cost is the table's, not the queue's. Options, not " +
        "measured here: the blocker as one `exists` per unfinished state (each served by " +
        "that state's partial index); the delete restricted to the finished states (`and " +
        "state in ('completed', 'failed', 'cancelled')`, which `_jobs_finished_idx` serves, " +
        "and which the blocker's check makes equivalent); and for large queues, deletion in " +
        "batches, as retention does.",
    );
  }
  if (items.length === 0)
    items.push("- None: every plan above reads in proportion to what it returns.");
  p("## Concerns");
  p(...items);
}

await main();
