/**
 * Shows whether claiming stays fast however many finished jobs the table holds.
 *
 *   node --import tsx bench/explain-claim.ts
 *
 * Builds a throwaway schema (`pgwake_explain`, dropped and recreated each run), loads about
 * 1.1 million jobs with set-based SQL, runs EXPLAIN (ANALYZE, BUFFERS) of the hot statements,
 * times them, prints everything and writes it to docs/claim-explain.md. Every statement that
 * writes (claimJobs, tickQueue) runs in a transaction that is rolled back, except the "churn"
 * step near the end, which commits claims on purpose to show what dead index entries cost.
 * The schema is dropped at the end unless KEEP=1.
 *
 * Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), KEEP=1.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { availableParallelism, cpus, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import * as prettier from "prettier";
import { quoteIdentifier } from "../src/db/identifiers.js";
import { migrate } from "../src/db/migrate.js";
import { Queries, type QueryName } from "../src/db/queries.js";

const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const KEEP = process.env.KEEP === "1";
const SCHEMA = "pgwake_explain";
const OUT = fileURLToPath(new URL("../docs/claim-explain.md", import.meta.url));

const FINISHED = 1_000_000;
const QUEUED = 100_000;
const SCHEDULED = 10_000;
const RUNNING = 1_000;
/** Jobs claimed and committed, without vacuum, for the "after churn" measurements. */
const CHURN = 15_000;
const CLAIM_LIMIT = 10;
const RUNS = 200;
const STATS_RUNS = 50;

const s = quoteIdentifier(SCHEMA);
const jobs = `${s}._jobs`;
const queries = new Queries(SCHEMA, true);
const EXPLAIN = "explain (analyze, buffers, verbose off, costs on)";

type Conn = postgres.ReservedSql;
type Param = string | number | string[];

interface Plan {
  key: string;
  title: string;
  call: string;
  text: string;
}

interface Timing {
  label: string;
  runs: number;
  p50: number;
  p95: number;
  max: number;
  /** How the plan cache planned the named statement during these runs. */
  cache: string;
}

const sql = postgres(DATABASE_URL, { max: 2, onnotice: () => undefined });
const loadSteps: Array<[string, number]> = [];
const plans: Plan[] = [];
const timings: Timing[] = [];

function log(message = ""): void {
  process.stdout.write(`${message}\n`);
}

async function rows(conn: Conn, text: string, params?: Param[]): Promise<unknown[][]> {
  return (await conn.unsafe(text, params as never[] | undefined).values()) as unknown[][];
}

async function step(label: string, fn: () => Promise<unknown>, loading = false): Promise<void> {
  const start = performance.now();
  await fn();
  const seconds = (performance.now() - start) / 1000;
  if (loading) loadSteps.push([label, seconds]);
  log(`  ${label}: ${seconds.toFixed(1)} s`);
}

/** Runs `fn` inside a transaction that is always rolled back. */
async function rolledBack<T>(conn: Conn, fn: () => Promise<T>): Promise<T> {
  await conn.unsafe("begin");
  try {
    return await fn();
  } finally {
    await conn.unsafe("rollback");
  }
}

/** The 100-uuid array literal makes one plan line 3,900 characters long; show it shortened. */
function shorten(plan: string): string {
  return plan.replace(/'\{[0-9a-f-]{36}(?:,[0-9a-f-]{36}){99}\}'/g, "'{…100 uuids…}'");
}

function record(key: string, title: string, call: string, text: string): void {
  plans.push({ key, title, call, text: shorten(text) });
  log(`\n-- ${title}  ${call}\n${shorten(text)}`);
}

/**
 * EXPLAIN ANALYZE with bound parameters, in a rolled-back transaction. An unnamed statement
 * is planned with its parameter values (a custom plan), as a prepared one is for its first runs.
 */
async function explainCustom(conn: Conn, name: QueryName, params: Param[]): Promise<string> {
  return rolledBack(conn, async () => {
    const plan = await rows(conn, `${EXPLAIN} ${queries.text(name)}`, params);
    return plan.map((row) => row[0] as string).join("\n");
  });
}

/**
 * EXPLAIN ANALYZE EXECUTE of the generic plan (planned without the parameter values), the plan
 * a prepared statement switches to after five runs if it does not look costlier than the custom
 * ones. PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN), so this forces it with plan_cache_mode.
 */
async function explainGeneric(conn: Conn, name: QueryName, literals: string[]): Promise<string> {
  const statement = `pgwake_explain_${name.toLowerCase()}`;
  await conn.unsafe(`prepare ${statement} as ${queries.text(name)}`);
  try {
    return await rolledBack(conn, async () => {
      await conn.unsafe("set local plan_cache_mode = force_generic_plan");
      const plan = await rows(conn, `${EXPLAIN} execute ${statement}(${literals.join(", ")})`);
      return plan.map((row) => row[0] as string).join("\n");
    });
  } finally {
    await conn.unsafe(`deallocate ${statement}`);
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function planCounts(conn: Conn, name: QueryName): Promise<[number, number]> {
  const found = await rows(
    conn,
    `select generic_plans, custom_plans from pg_prepared_statements
     where not from_sql and statement = $1`,
    [queries.text(name)],
  );
  return found[0] ? [Number(found[0][0]), Number(found[0][1])] : [0, 0];
}

/**
 * Runs a statement `runs` times as a named prepared statement, as pgwake does, each run in its
 * own rolled-back transaction, and times the statement's round trip from Node (BEGIN and
 * ROLLBACK not included).
 */
async function time(
  conn: Conn,
  label: string,
  name: QueryName,
  params: Param[],
  runs: number,
  expectRows?: number,
): Promise<void> {
  const [generic0, custom0] = await planCounts(conn, name);
  const samples: number[] = [];
  const start = performance.now();
  for (let i = 0; i < runs; i++) {
    await rolledBack(conn, async () => {
      const t0 = performance.now();
      const result = await conn
        .unsafe(queries.text(name), params as never[], { prepare: true })
        .values();
      samples.push(performance.now() - t0);
      if (expectRows !== undefined && result.length !== expectRows) {
        throw new Error(`${label}: expected ${expectRows} rows, got ${result.length}`);
      }
    });
  }
  const [generic1, custom1] = await planCounts(conn, name);
  samples.sort((a, b) => a - b);
  const timing: Timing = {
    label,
    runs,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    max: samples[samples.length - 1]!,
    cache: `${generic1 - generic0} generic, ${custom1 - custom0} custom`,
  };
  timings.push(timing);
  log(
    `  ${label}: ${runs} runs in ${((performance.now() - start) / 1000).toFixed(1)} s, ` +
      `p50 ${ms(timing.p50)}, p95 ${ms(timing.p95)}, max ${ms(timing.max)} (${timing.cache})`,
  );
}

function ms(value: number): string {
  return `${value < 10 ? value.toFixed(2) : value.toFixed(0)} ms`;
}

function nproc(): string {
  try {
    return execFileSync("nproc", { encoding: "utf8" }).trim();
  } catch {
    return String(availableParallelism());
  }
}

// ---------------------------------------------------------------------------------------------
// Data

async function load(conn: Conn): Promise<void> {
  log(`schema ${SCHEMA}`);
  await step(
    "drop, migrate, create queues",
    async () => {
      await conn.unsafe(`set client_min_messages = warning; drop schema if exists ${s} cascade`);
      await migrate(sql, SCHEMA);
      await conn.unsafe(`insert into ${s}._queues (name) values ('emails'), ('other')`);
    },
    true,
  );

  // Finished jobs spread over the past week, three in four in 'emails': 80% completed,
  // 10% failed (five attempts, one error), 10% cancelled.
  await step(
    `insert ${FINISHED.toLocaleString("en")} finished jobs`,
    () =>
      conn.unsafe(`
      insert into ${jobs} (id, queue, state, priority, run_at, payload, attempt, result, errors,
                           created_at, started_at, finished_at)
      select ${s}.uuid_v7(),
             case when i % 4 = 0 then 'other' else 'emails' end,
             (case when i % 10 < 8 then 'completed' when i % 10 = 8 then 'failed'
                   else 'cancelled' end)::${s}.job_state,
             i % 6,
             t.at,
             jsonb_build_object('to', 'user' || i || '@example.com', 'template', 'welcome'),
             case when i % 10 < 8 then 1 when i % 10 = 8 then 5 else 0 end,
             case when i % 10 < 8 then '{"messageId": "abc"}'::jsonb end,
             case when i % 10 = 8 then jsonb_build_array(jsonb_build_object(
               'name', 'Error', 'message', 'smtp timeout', 'attempt', 5, 'at', t.at)) end,
             t.at,
             case when i % 10 <> 9 then t.at + interval '1 second' end,
             t.at + interval '2 seconds'
      from generate_series(1, ${FINISHED}) as i
      cross join lateral (
        select now() - interval '7 days 1 hour' + (i * interval '7 days') / ${FINISHED} as at
      ) t`),
    true,
  );

  // Runnable jobs in 'emails': priorities 0..5, run_at spread over the past hour.
  await step(
    `insert ${QUEUED.toLocaleString("en")} queued jobs`,
    () =>
      conn.unsafe(`
      insert into ${jobs} (id, queue, state, priority, run_at, payload, created_at)
      select ${s}.uuid_v7(), 'emails', 'queued', i % 6, t.at,
             jsonb_build_object('to', 'user' || i || '@example.com', 'template', 'welcome'), t.at
      from generate_series(1, ${QUEUED}) as i
      cross join lateral (select now() - random() * interval '1 hour' as at) t`),
    true,
  );

  // Delayed jobs, due from ten minutes to a day from now (none falls due during the run).
  await step(
    `insert ${SCHEDULED.toLocaleString("en")} scheduled jobs`,
    () =>
      conn.unsafe(`
      insert into ${jobs} (id, queue, state, priority, run_at, payload)
      select ${s}.uuid_v7(), 'emails', 'scheduled', 0,
             now() + interval '10 minutes' + random() * interval '1 day',
             jsonb_build_object('to', 'user' || i || '@example.com', 'template', 'reminder')
      from generate_series(1, ${SCHEDULED}) as i`),
    true,
  );

  // Leased jobs whose leases outlast the run (so tickQueue rescues none).
  await step(
    `insert ${RUNNING.toLocaleString("en")} running jobs`,
    () =>
      conn.unsafe(`
      insert into ${jobs} (id, queue, state, priority, run_at, payload, attempt, lease_token,
                           lease_expires_at, leased_by, created_at, started_at)
      select ${s}.uuid_v7(), 'emails', 'running', i % 6, now() - interval '2 minutes',
             jsonb_build_object('to', 'user' || i || '@example.com', 'template', 'welcome'),
             1, gen_random_uuid(), now() + interval '1 hour' + random() * interval '1 hour',
             'worker-' || (i % 8), now() - interval '2 minutes', now() - interval '1 minute'
      from generate_series(1, ${RUNNING}) as i`),
    true,
  );

  // One statement per call: VACUUM cannot run in a multi-statement query's implicit transaction.
  await step(
    "vacuum analyze",
    async () => {
      await conn.unsafe(`vacuum (analyze) ${jobs}`);
      await conn.unsafe(`vacuum (analyze) ${s}._queues`);
    },
    true,
  );
}

// ---------------------------------------------------------------------------------------------
// Reading plans (for the findings written under them; the plans themselves are printed whole)

function planOf(key: string): string {
  const plan = plans.find((p) => p.key === key);
  if (!plan) throw new Error(`no plan ${key}`);
  return plan.text;
}

function num(text: string, pattern: RegExp): number | undefined {
  const match = pattern.exec(text);
  return match ? Number(match[1]) : undefined;
}

function execTime(plan: string): number {
  return num(plan, /Execution Time: ([\d.]+) ms/) ?? NaN;
}

function planningTime(plan: string): number {
  return num(plan, /Planning Time: ([\d.]+) ms/) ?? NaN;
}

interface PlanNode {
  line: string;
  /** The node's own lines (its details), up to the next node. */
  details: string;
  rows?: number;
  loops?: number;
  hit?: number;
  read?: number;
}

/** The first plan node whose line matches `pattern`, with its actual rows and buffers. */
function node(plan: string, pattern: RegExp): PlanNode | undefined {
  const lines = plan.split("\n");
  const at = lines.findIndex((line) => pattern.test(line));
  if (at < 0) return undefined;
  const line = lines[at]!.trim().replace(/^->\s+/, "");
  const rest: string[] = [];
  for (const next of lines.slice(at + 1)) {
    if (/->|^\S|^\s*(CTE|InitPlan|SubPlan) /.test(next)) break;
    rest.push(next.trim());
  }
  const details = rest.join("\n");
  return {
    line,
    details,
    rows: num(line, /actual time=[\d.]+\.\.[\d.]+ rows=(\d+)/),
    loops: num(line, /loops=(\d+)\)/),
    hit: num(details, /Buffers: shared hit=(\d+)/),
    read: num(details, /Buffers: shared (?:hit=\d+ )?read=(\d+)/),
  };
}

/** Every scan of the jobs table in a plan: "Index Scan using X", "Seq Scan", ... */
function jobScans(plan: string): string[] {
  const found = new Set<string>();
  for (const match of plan.matchAll(
    /((?:Parallel )?(?:Seq Scan|Index Scan|Index Only Scan|Bitmap Heap Scan)(?: Backward)?(?: using \w+)?) on _jobs\b/g,
  )) {
    found.add(`\`${match[1]!}\``);
  }
  return [...found];
}

function triggerTime(plan: string): string {
  return plan.match(/Trigger _jobs_after_update[^:]*: time=([\d.]+)/)?.[1] ?? "?";
}

/** The estimated total cost of the plan's top node. */
function costOf(plan: string): string {
  return plan.match(/^\S[^\n]*cost=[\d.]+\.\.([\d.]+)/)?.[1] ?? "?";
}

function dirtied(plan: string): string {
  const n = node(plan, /using _jobs_claim_idx/)?.details.match(/dirtied=(\d+)/)?.[1];
  return n ? `, dirtied=${n}` : "";
}

function fmt(n: number | undefined): string {
  return n === undefined ? "?" : n.toLocaleString("en");
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = performance.now();
  const conn = await sql.reserve();
  try {
    await load(conn);

    const [[version]] = (await rows(conn, "select version()")) as [[string]];
    const settings = (await rows(
      conn,
      `select name, setting || coalesce(' (' || unit || ')', '') from pg_settings
       where name in ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost',
                      'jit', 'max_parallel_workers_per_gather', 'plan_cache_mode')
       order by name`,
    )) as Array<[string, string]>;
    const counts = (
      await rows(
        conn,
        `select queue, state::text, count(*) from ${jobs} group by 1, 2 order by 1, 2`,
      )
    ).map(([queue, state, n]) => [queue as string, state as string, Number(n)] as const);
    const total = counts.reduce((sum, [, , n]) => sum + n, 0);
    const sizes = (
      await rows(
        conn,
        `select c.relname, pg_size_pretty(pg_relation_size(c.oid)), c.relkind::text
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
         where n.nspname = $1 and c.relname like '\\_jobs%' and c.relkind in ('r', 'i')
         order by c.relkind desc, pg_relation_size(c.oid) desc`,
        [SCHEMA],
      )
    ).map(([name, size, kind]) => [name as string, size as string, kind as string] as const);
    const claimIndexEntries = Number(
      (
        await rows(
          conn,
          `select reltuples from pg_class where oid = '${SCHEMA}._jobs_claim_idx'::regclass`,
        )
      )[0]![0],
    );
    // 100 existing ids of any state, spread over the table: a 1% page sample, shuffled.
    const ids = (
      await rows(
        conn,
        `select id::text from ${jobs} tablesample system (1) order by random() limit 100`,
      )
    ).map((row) => row[0] as string);
    if (ids.length !== 100) throw new Error(`sampled ${ids.length} ids, expected 100`);
    const claimArgs = ["emails", CLAIM_LIMIT, "explain"];
    const claimCall = `claimJobs('emails', ${CLAIM_LIMIT}, 'explain')`;

    log("\nexplain");
    record(
      "claim",
      "claimJobs, custom plan",
      claimCall,
      await explainCustom(conn, "claimJobs", claimArgs),
    );
    record(
      "claim-generic",
      "claimJobs, generic plan",
      claimCall,
      await explainGeneric(conn, "claimJobs", ["'emails'", String(CLAIM_LIMIT), "'explain'"]),
    );
    record(
      "tick",
      "tickQueue, custom plan",
      "tickQueue('emails')",
      await explainCustom(conn, "tickQueue", ["emails"]),
    );
    record(
      "stats",
      "queueStats, custom plan",
      "queueStats('emails')",
      await explainCustom(conn, "queueStats", ["emails"]),
    );
    record(
      "stats-generic",
      "queueStats, generic plan",
      "queueStats('emails')",
      await explainGeneric(conn, "queueStats", ["'emails'"]),
    );
    record(
      "outcomes",
      "jobOutcomes, custom plan",
      "jobOutcomes(<100 sampled ids>)",
      await explainCustom(conn, "jobOutcomes", [ids]),
    );

    log("\ntimings");
    await time(
      conn,
      `claimJobs (limit ${CLAIM_LIMIT})`,
      "claimJobs",
      ["emails", CLAIM_LIMIT, "bench"],
      RUNS,
      CLAIM_LIMIT,
    );
    await time(conn, "tickQueue", "tickQueue", ["emails"], RUNS, 1);
    await time(conn, "jobOutcomes (100 ids)", "jobOutcomes", [ids], RUNS, 100);
    await time(conn, "queueStats", "queueStats", ["emails"], STATS_RUNS);

    // Committed claims leave dead entries at the head of the claim index until vacuum.
    log(`\nchurn: ${CHURN.toLocaleString("en")} claims committed, no vacuum`);
    await step(`claim and commit ${CHURN.toLocaleString("en")} jobs`, () =>
      conn.unsafe(
        `update ${jobs}
         set state = 'running', attempt = attempt + 1, lease_token = gen_random_uuid(),
             lease_expires_at = now() + interval '2 hours', leased_by = 'churn', started_at = now()
         where id in (select id from ${jobs} where state = 'queued' and queue = 'emails'
                      order by priority desc, run_at, id limit ${CHURN})`,
      ),
    );
    record(
      "churn-1",
      "claimJobs after churn, first run",
      claimCall,
      await explainCustom(conn, "claimJobs", claimArgs),
    );
    record(
      "churn-2",
      "claimJobs after churn, second run",
      claimCall,
      await explainCustom(conn, "claimJobs", claimArgs),
    );
    await time(
      conn,
      `claimJobs (limit ${CLAIM_LIMIT}), after churn`,
      "claimJobs",
      ["emails", CLAIM_LIMIT, "bench"],
      RUNS,
      CLAIM_LIMIT,
    );
    record(
      "churn-stats",
      "queueStats after churn",
      "queueStats('emails')",
      await explainCustom(conn, "queueStats", ["emails"]),
    );
    await step("vacuum", () => conn.unsafe(`vacuum ${jobs}`));
    record(
      "vacuumed",
      "claimJobs after churn and VACUUM",
      claimCall,
      await explainCustom(conn, "claimJobs", claimArgs),
    );
    await time(
      conn,
      `claimJobs (limit ${CLAIM_LIMIT}), after VACUUM`,
      "claimJobs",
      ["emails", CLAIM_LIMIT, "bench"],
      RUNS,
      CLAIM_LIMIT,
    );
    const [[autovacuums]] = (await rows(
      conn,
      `select autovacuum_count + autoanalyze_count from pg_stat_user_tables where relid = $1::regclass`,
      [`${SCHEMA}._jobs`],
    )) as [[string]];

    const minutes = (performance.now() - started) / 60_000;
    const doc = report({
      version,
      settings,
      counts,
      total,
      sizes,
      claimIndexEntries,
      autovacuums: Number(autovacuums),
      minutes,
    });
    // Formatted as `npm run lint` (prettier --check .) expects.
    const config = await prettier.resolveConfig(OUT);
    writeFileSync(OUT, await prettier.format(doc, { ...config, filepath: OUT }));
    log(`\nwrote ${OUT} (run took ${minutes.toFixed(1)} min)`);
  } finally {
    conn.release();
    if (!KEEP) await sql.unsafe(`drop schema if exists ${s} cascade`);
    else log(`kept schema ${SCHEMA}`);
    await sql.end();
  }
}

// ---------------------------------------------------------------------------------------------
// docs/claim-explain.md

interface Facts {
  version: string;
  settings: Array<[string, string]>;
  counts: ReadonlyArray<readonly [string, string, number]>;
  total: number;
  sizes: ReadonlyArray<readonly [string, string, string]>;
  claimIndexEntries: number;
  autovacuums: number;
  minutes: number;
}

function report(f: Facts): string {
  const claim = planOf("claim");
  const generic = planOf("claim-generic");
  const tick = planOf("tick");
  const stats = planOf("stats");
  const churn1 = planOf("churn-1");
  const churn2 = planOf("churn-2");
  const vacuumed = planOf("vacuumed");
  const claimScan = node(claim, /Index Scan using _jobs_claim_idx/);
  const genericScan = node(generic, /Index Scan using _jobs_claim_idx/);
  const claimLimit = node(claim, /->\s+Limit /);
  const claimLock = node(claim, /->\s+LockRows /);
  const claimSort = node(claim, /^Sort /);
  const claimPkey = node(claim, /Index Scan using _jobs_pkey/);
  const churnScan = [churn1, churn2, vacuumed].map((p) => node(p, /using _jobs_claim_idx/));
  const statsScan = node(stats, /Scan .*on _jobs/);
  const churnStatsScan = node(planOf("churn-stats"), /Scan .*on _jobs/);
  const claimTiming = timings[0]!;
  const statsTiming = timings.find((t) => t.label === "queueStats")!;
  const churnTiming = timings.find((t) => t.label.endsWith("after churn"))!;
  const vacuumTiming = timings.find((t) => t.label.endsWith("after VACUUM"))!;
  const byState = new Map<string, number>();
  for (const [, state, n] of f.counts) byState.set(state, (byState.get(state) ?? 0) + n);
  const finished =
    (byState.get("completed") ?? 0) +
    (byState.get("failed") ?? 0) +
    (byState.get("cancelled") ?? 0);
  const emails = f.counts.filter(([queue]) => queue === "emails").reduce((a, [, , n]) => a + n, 0);
  const seqScanTables = [
    ...new Set(
      plans.flatMap((plan) => [...plan.text.matchAll(/Seq Scan on (\w+)/g)].map((m) => m[1]!)),
    ),
  ];
  const seqScans = plans.filter((p) => /Seq Scan on _jobs\b/.test(p.text)).map((p) => p.title);
  const filterRemoved = plans.some((plan) =>
    node(plan.text, /using _jobs_claim_idx/)?.details.includes("Rows Removed by Filter"),
  );
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const local = ["127.0.0.1", "localhost", "::1", "[::1]", ""].includes(
    new URL(DATABASE_URL).hostname,
  );

  const out: string[] = [];
  const p = (...lines: string[]) => out.push(...lines, "");

  p("# Claiming with a large jobs table");
  p(
    `Generated by \`bench/explain-claim.ts\` (\`node --import tsx bench/explain-claim.ts\`) on ` +
      `${new Date().toISOString().slice(0, 10)}; the whole run took ${f.minutes.toFixed(1)} minutes. ` +
      "Re-running it overwrites this file. All numbers below come from one run on one machine: " +
      "they show plan shapes and orders of magnitude, not a throughput benchmark.",
  );

  p("## Setup");
  p(
    `- Machine: \`nproc\` = ${nproc()}, ${cpu}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM` +
      (local ? " (the database runs on the same machine as the script)." : "."),
    `- PostgreSQL: \`${f.version}\``,
    `- Settings: ${f.settings.map(([name, value]) => `\`${name}\` = ${value}`).join(", ")}.`,
    `- Schema \`${SCHEMA}\`, migrated with \`migrate()\`; queues \`emails\` and \`other\`. Jobs ` +
      "loaded with `insert … select … from generate_series(…)` (ids from the schema's " +
      "`uuid_v7()`), then `VACUUM ANALYZE`.",
  );
  p(
    "| load step | seconds |",
    "| --- | ---: |",
    ...loadSteps.map(([label, seconds]) => `| ${label} | ${seconds.toFixed(1)} |`),
  );
  p(
    "Rows after loading (`queued` jobs have `run_at` spread over the past hour and priorities " +
      "0 to 5; `scheduled` ones are due 10 minutes to a day ahead; `running` ones hold leases " +
      "that outlast the run):",
  );
  p(
    "| queue | state | rows |",
    "| --- | --- | ---: |",
    ...f.counts.map(([queue, state, n]) => `| ${queue} | ${state} | ${fmt(n)} |`),
    `| **all** | | **${fmt(f.total)}** |`,
  );
  p(
    "| relation | size |",
    "| --- | ---: |",
    ...f.sizes.map(
      ([name, size, kind]) => `| \`${name}\`${kind === "r" ? " (table)" : ""} | ${size} |`,
    ),
  );

  p("## Why the claim does not read finished jobs");
  p(
    "`claimJobs` picks its jobs with `where state = 'queued' and queue = $1 order by priority " +
      "desc, run_at, id limit $2 for update skip locked`. The migration creates " +
      "`_jobs_claim_idx on _jobs (queue, priority desc, run_at, id) where state = 'queued'`: a " +
      "partial index whose predicate is the claim's own `state = 'queued'` condition and whose " +
      "key order is the claim's `order by`. Finished, scheduled and running jobs have no entry in " +
      `it: after loading it held about ${fmt(f.claimIndexEntries)} entries (\`pg_class.reltuples\`) ` +
      `for ${fmt(f.total)} rows, ${fmt(finished)} of them finished.`,
  );
  p("What the custom plan of the claim shows:");
  const bullets: string[] = [];
  if (claimScan) {
    bullets.push(
      `- The \`picked\` CTE is \`Limit → LockRows → Index Scan using _jobs_claim_idx\` with ` +
        "`Index Cond: (queue = 'emails'::text)`. There is no Sort under the Limit: the index " +
        `already returns rows in claim order, so the scan stopped after ${fmt(claimScan.rows)} ` +
        `rows and read ${fmt(claimScan.hit)} buffers` +
        (claimLock ? ` (${fmt(claimLock.hit)} including the row locks taken by LockRows)` : "") +
        `; the Limit was done at actual time ` +
        `${claimLimit?.line.match(/actual time=[\d.]+\.\.([\d.]+)/)?.[1] ?? "?"} ms.`,
      "- The index scan also prints `Filter: (state = 'queued'::…job_state)`, the index " +
        "predicate repeated. PostgreSQL drops quals implied by a partial index's predicate only " +
        "for plain SELECTs; for a relation locked with FOR UPDATE it keeps them so that rows " +
        "re-fetched after a concurrent update are checked again (EvalPlanQual). " +
        (filterRemoved
          ? "In at least one plan below the filter did remove rows (see `Rows Removed by Filter`)."
          : "No plan below prints `Rows Removed by Filter` under it (EXPLAIN omits the line when " +
            "the count is zero): the filter removed nothing."),
    );
  } else {
    bullets.push("- **The claim did not use `_jobs_claim_idx` in this run**: see the plan below.");
  }
  if (claimPkey) {
    bullets.push(
      `- The UPDATE finds each picked row again through \`_jobs_pkey\` (Nested Loop, ` +
        `${fmt(claimPkey.loops)} loops of 1 row) and joins the one \`_queues\` row by a Seq Scan ` +
        "of that two-row, one-page table.",
    );
  }
  if (claimSort) {
    bullets.push(
      `- The top Sort orders only the ${fmt(claimSort.rows)} returned rows ` +
        "(`Sort Method: quicksort`), for the statement's final `order by`.",
    );
  }
  bullets.push(
    `- Execution Time ${execTime(claim)} ms, Planning Time ${planningTime(claim)} ms; the ` +
      "statement-level `_jobs_after_update` trigger is listed separately: " +
      `${triggerTime(claim)} ms here, ${triggerTime(generic)} ms in the generic-plan run that ` +
      "followed it.",
    seqScans.length === 0
      ? "- No plan in this document has a Seq Scan on `_jobs`; Seq Scans appear only on " +
          `${seqScanTables.map((name) => `\`${name}\``).join(", ")}.`
      : `- **Seq Scan on \`_jobs\`** in: ${seqScans.join("; ")}.`,
  );
  if (genericScan) {
    bullets.push(
      "- The generic plan (parameters unknown at planning) has the same shape and the same " +
        "index. Only its estimates differ: with `limit $2` unknown the planner assumes 10% of the " +
        `matching rows (rows=${genericScan.line.match(/rows=(\d+) width/)?.[1] ?? "?"} under the ` +
        "Limit), and its estimated total cost is " +
        `${costOf(generic)} against ${costOf(claim)} for the custom plan. ` +
        (claimTiming.cache.startsWith("0 generic")
          ? "A prepared statement only switches to its generic plan when that is not much " +
            "costlier than the custom plans, and this one never did: over the timed runs below " +
            `\`pg_prepared_statements\` counted ${claimTiming.cache} plans for the claim, so ` +
            "every claim is planned again (Planning Time above)."
          : `Over the timed runs below \`pg_prepared_statements\` counted ${claimTiming.cache} ` +
            "plans for the claim."),
    );
  }
  p(...bullets);
  p(
    `\`tickQueue\` reads \`_jobs\` through ${jobScans(tick).join(", ")}; ` +
      `Execution Time ${execTime(tick)} ms. \`jobOutcomes\` with 100 ids is one ` +
      `${jobScans(planOf("outcomes")).join(", ")} (Execution Time ${execTime(planOf("outcomes"))} ms).`,
  );

  p("## Timings");
  p(
    "Each statement ran as a named prepared statement on one connection (as pgwake runs them), " +
      "each run in its own transaction that was rolled back. The time is the statement's round " +
      "trip measured in Node, without BEGIN and ROLLBACK. Rolled-back claims leave the queue as " +
      "it was, so every run claims the same ten jobs. The plan cache column is the change in " +
      "`pg_prepared_statements.generic_plans` / `custom_plans` over the runs. The tails (p95, " +
      `max) include scheduling noise on a ${nproc()}-CPU machine and are not analysed here.`,
  );
  p(
    "| statement | runs | p50 | p95 | max | plan cache |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
    ...timings.map(
      (t) => `| ${t.label} | ${t.runs} | ${ms(t.p50)} | ${ms(t.p95)} | ${ms(t.max)} | ${t.cache} |`,
    ),
  );

  p("## Concerns");
  p(
    `- **\`queueStats\` counts every row of the queue, finished ones included.** For \`emails\` ` +
      `(${fmt(emails)} rows) the plan is \`${statsScan?.line.split("  (")[0] ?? "?"}\` with ` +
      `\`Index Cond: (queue = …)\`` +
      (statsScan?.details.includes("Heap Fetches")
        ? `, index-only with \`Heap Fetches: ${statsScan.details.match(/Heap Fetches: (\d+)/)?.[1]}\`` +
          ` (rows=${fmt(statsScan.rows)} per loop, loops=${fmt(statsScan.loops)})`
        : "") +
      `. Execution Time ${execTime(stats)} ms; p50 ${ms(statsTiming.p50)} over ` +
      `${statsTiming.runs} runs. The cost grows with the number of finished jobs kept. ` +
      "`_queues.retention_ms` exists, but no statement in `sql/queries/` deletes finished jobs " +
      "yet, so nothing bounds that number today. " +
      (churnStatsScan?.details.includes("Heap Fetches")
        ? `Index-only also depends on the visibility map: after the churn step below the same ` +
          `scan made \`Heap Fetches: ${churnStatsScan.details.match(/Heap Fetches: (\d+)/)?.[1]}\` ` +
          `(Execution Time ${execTime(planOf("churn-stats"))} ms), because pages holding active ` +
          "jobs lose their all-visible bit whenever a job on them changes. "
        : "") +
      "Recommendation: implement retention (delete finished jobs past `retention_ms`, in " +
      "batches), and keep `stats()` off hot paths (or count only the active states, which " +
      "are few, and estimate the finished ones) if queues are expected to keep millions of " +
      "finished rows.",
    `- **Dead entries at the head of the claim index.** A claimed job's old row version stays ` +
      "in `_jobs_claim_idx` until vacuum removes it, and it sits exactly where the next claim " +
      `starts reading. After ${fmt(CHURN)} claims were committed without vacuum, the first ` +
      `claim's index scan read ${fmt(churnScan[0]?.hit)} buffers for ${fmt(churnScan[0]?.rows)} ` +
      `rows (Execution Time ${execTime(churn1)} ms${dirtied(churn1)}). The second run read ` +
      `${fmt(churnScan[1]?.hit)} (Execution Time ${execTime(churn2)} ms): consistent with the ` +
      "first scan having marked the dead entries killed, which later scans skip without " +
      "visiting the heap while still reading the index pages that hold them. After `VACUUM` " +
      `the scan read ${fmt(churnScan[2]?.hit)} (Execution Time ${execTime(vacuumed)} ms). ` +
      `Claim p50 was ${ms(claimTiming.p50)} before churn, ${ms(churnTiming.p50)} after it ` +
      `(timed after the two runs above) and ${ms(vacuumTiming.p50)} after VACUUM, so once the ` +
      "entries are killed the remaining cost is small at this scale; the expensive run was the " +
      `first scan after ${fmt(CHURN)} claims committed with no scan of the index in between. ` +
      "None of this shows as `Rows Removed by Filter`: dead " +
      "versions fail the visibility check, not the filter, so the cost is only visible in " +
      "`Buffers`. The table's autovacuum settings (`autovacuum_vacuum_scale_factor = 0.02`) " +
      "exist for this. Not measured here: a long-running transaction anywhere in the database " +
      "keeps old versions visible, so neither the killing of dead entries nor vacuum can " +
      "remove them until it ends, and each claim would then walk all the dead entries at the " +
      `head of the index. (Autovacuum/autoanalyze runs on \`_jobs\` during this run: ${f.autovacuums}.)`,
  );

  p("## Plans");
  p(
    "`EXPLAIN (ANALYZE, BUFFERS, VERBOSE off, COSTS on)`, each in a transaction that was rolled " +
      "back. Custom plans are the statement text with bound parameters (an unnamed prepared " +
      "statement); generic plans are `EXECUTE` of a `PREPARE`d statement under " +
      "`plan_cache_mode = force_generic_plan`. The 100-id array literal of `jobOutcomes` is " +
      "shortened here.",
  );
  for (const plan of plans) {
    p(`### ${plan.title}`, `\`${plan.call}\``, "```text", plan.text, "```");
  }
  return `${out.join("\n").trimEnd()}\n`;
}

await main();
