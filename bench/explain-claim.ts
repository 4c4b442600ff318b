/**
 * Shows whether claiming stays fast however many finished jobs the table holds, before the
 * table's first ANALYZE, and with attribute filters (`receive({ filter })`, and
 * `cancel({ filter })`'s `cancelJobsWhere`).
 *
 *   node --import tsx bench/explain-claim.ts
 *
 * Builds a throwaway schema (`pgwake_explain`, dropped and recreated each run), loads about
 * 1.1 million jobs with set-based SQL (those of queue `emails` with attributes: see
 * `attributes`), runs EXPLAIN (ANALYZE, BUFFERS) of the hot statements,
 * times them, prints everything and writes it to docs/claim-explain.md. Every statement that
 * writes (claimJobs, tickQueue, cancelJobsWhere) runs in a transaction that is rolled back, as
 * does a comparison of `_jobs_attributes_idx` as migration 0002 defined it with its definition
 * now, except the "churn" step near the end, which commits claims on purpose to show what dead
 * index entries cost.
 * Before that, two small schemas (`pgwake_explain_fresh`, and `pgwake_explain_old` with the
 * (queue, state) index earlier migrations had) get 20,000 queued jobs and no ANALYZE, to show
 * the claim's plan on a table without statistics. The schemas are dropped at the end unless KEEP=1.
 *
 * Environment:
 *   DATABASE_URL     default postgres://postgres@127.0.0.1:5432/test
 *   KEEP=1           keep the schemas
 *   EXPLAIN_OUTPUT   write the report here instead of docs/claim-explain.md
 *   EXPLAIN_SUMMARY  also write the run's key numbers here, as JSON
 *   EXPLAIN_COMPARE  a JSON summary written by another run (say, another PostgreSQL version):
 *                    adds a section comparing it with this run
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
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
import { quoteIdentifier } from "../src/db/identifiers.js";
import { migrate } from "../src/db/migrate.js";
import { PLANNED_PER_CALL, Queries, type QueryName } from "../src/db/queries.js";
import { migrationFiles, renderSql } from "../src/db/sql-files.js";
import { writeFormatted } from "./lib/formatted.ts";

const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const KEEP = process.env.KEEP === "1";
const SCHEMA = "pgwake_explain";
const FRESH_SCHEMA = "pgwake_explain_fresh";
const OLD_SCHEMA = "pgwake_explain_old";
const DEFAULT_OUT = fileURLToPath(new URL("../docs/claim-explain.md", import.meta.url));
const OUT = process.env.EXPLAIN_OUTPUT ? resolve(process.env.EXPLAIN_OUTPUT) : DEFAULT_OUT;
const SUMMARY = process.env.EXPLAIN_SUMMARY ? resolve(process.env.EXPLAIN_SUMMARY) : undefined;
const COMPARE = process.env.EXPLAIN_COMPARE ? resolve(process.env.EXPLAIN_COMPARE) : undefined;
const QUERY_DIR = fileURLToPath(new URL("../sql/queries/", import.meta.url));

const FINISHED = 1_000_000;
const QUEUED = 100_000;
const SCHEDULED = 10_000;
const RUNNING = 1_000;
/** Tenant ids in the jobs' attributes (`t0` … `t1999`; see `attributes`). */
const TENANTS = 2_000;
/** Queued jobs in the schemas that are never analyzed. */
const FRESH_QUEUED = 20_000;
/** Jobs claimed and committed, without vacuum, for the "after churn" measurements. */
const CHURN = 15_000;
const CLAIM_LIMIT = 10;
/** Jobs claimed in one statement, then heartbeated, with each definition of the GIN index. */
const WRITE_CLAIMS = 10_000;

/** An attribute filter whose claim is explained and timed (for the data, see `attributes`). */
interface FilterCase {
  key: string;
  filter: Record<string, string>;
  what: string;
  /** Also explain the generic plan. */
  generic: boolean;
  /** Also explain the custom plan with `enable_indexscan = off` (the other index's plan). */
  forced: boolean;
  runs: number;
}

const FILTER_CASES: FilterCase[] = [
  {
    key: "rare",
    filter: { region: "ap" },
    what: "selective",
    generic: true,
    forced: false,
    runs: 200,
  },
  {
    key: "common",
    filter: { region: "eu" },
    what: "broad",
    generic: true,
    forced: true,
    runs: 200,
  },
  {
    key: "none",
    filter: { tenant: "t0" },
    what: "no queued job, common among finished ones",
    generic: false,
    forced: true,
    runs: 50,
  },
  {
    key: "absent",
    filter: { region: "sa" },
    what: "no job at all",
    generic: false,
    forced: false,
    runs: 200,
  },
];
/** The filter of a claim explained before the first ANALYZE. */
const FRESH_FILTER = { region: "ap" };
/** The filter of the `cancelJobsWhere` measurements. */
const CANCEL_FILTER = { region: "ap" };
const RUNS = 200;
const STATS_RUNS = 50;

const s = quoteIdentifier(SCHEMA);
const jobs = `${s}._jobs`;
const queries = new Queries(SCHEMA, true);
const EXPLAIN = "explain (analyze, buffers, verbose off, costs on)";

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

/** One schema measured before its first ANALYZE. */
interface FreshRun {
  schema: string;
  /** Whether the (queue, state) index of earlier migrations was added. */
  oldIndex: boolean;
  /** `pg_class.reltuples` of `_jobs` after the insert, and again after the measurements. */
  reltuples: [number, number];
  /** Rows in `pg_stats` for `_jobs` when the claim was explained. */
  statistics: number;
  /** The table's size in pages (`pg_relation_size` / block size). */
  pages: number;
  planKey: string;
  timing: Timing;
}

/** `_jobs_attributes_idx` as one migration defined it, built in one pass and measured. */
interface IndexVariant {
  /** The migration's version, e.g. "0002". */
  version: string;
  /** The index's WHERE clause. */
  predicate: string;
  size: string;
  seconds: number;
  /** Running jobs that the heartbeat extended. */
  heartbeats: number;
}

interface Matches {
  queued: number;
  /** waiting, scheduled, queued or running: what `cancel({ filter })` cancels. */
  unfinished: number;
  finished: number;
}

/** The numbers a run writes to EXPLAIN_SUMMARY, to be compared with another run's. */
interface Summary {
  version: string;
  settings: string;
  /** Whether the server ran on the machine that ran the script. */
  local: boolean;
  claimPicked: string;
  claimExec: number;
  claimP50: number;
  claimP95: number;
  freshPicked: string;
  freshGenericPicked: string;
  freshExec: number;
  freshP50: number;
  oldPicked: string;
  oldExec: number;
  oldP50: number;
  statsExec: number;
  statsFinished: string;
  statsGenericFinished: string;
  statsP50: number;
  churnFirstExec: number;
}

/** auto_explain's reports while `nestedPlans` listens (else notices are dropped). */
let notices: string[] | undefined;
const sql = postgres(DATABASE_URL, {
  max: 2,
  onnotice: (notice) => notices?.push(notice.message ?? ""),
});
const loadSteps: Array<[string, number]> = [];
const plans: Plan[] = [];
const timings: Timing[] = [];
/** How many jobs of 'emails' each filter (by key, and "cancel") matches, counted after loading. */
const filterMatches = new Map<string, Matches>();
/** The size of `_jobs_attributes_idx` as loaded (built empty by the migration, then filled). */
const attributeIndexSizes: { loaded?: string } = {};
/** `_jobs_attributes_idx` as the migrations defined it, rebuilt (`compareAttributeIndexes`). */
const indexVariants: IndexVariant[] = [];
/** The heartbeat's plan with each variant, by migration version (too long to print). */
const heartbeatPlans = new Map<string, string>();
const freshRuns: FreshRun[] = [];

async function step(label: string, fn: () => Promise<unknown>, loading = false): Promise<void> {
  const start = performance.now();
  await fn();
  const seconds = (performance.now() - start) / 1000;
  if (loading) loadSteps.push([label, seconds]);
  log(`  ${label}: ${seconds.toFixed(1)} s`);
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
 * The statement a claim runs since migration 0009: `claimJobs` takes no filter (queue, limit,
 * consumer), a filtered claim is `claimJobsWhere`. This tool names claims as before, with the
 * filter (or null) fourth; every call goes through here. `nulls` is how a missing filter looks.
 */
function routed<T>(name: QueryName, params: T[], nulls: T[]): [QueryName, T[]] {
  if (name !== "claimJobs") return [name, params];
  return nulls.includes(params[3]!) || params[3] === undefined
    ? ["claimJobs", params.slice(0, 3)]
    : ["claimJobsWhere", params];
}

/**
 * Runs `explain` (an EXPLAIN ANALYZE of a statement) with auto_explain reporting the plans of the
 * statements run inside functions, and returns the plan followed by theirs. An unfiltered claim
 * is one call of `_claim` (migration 0009), whose own EXPLAIN shows a Function Scan only; the
 * pick, the count and the update are planned and run inside it (see `nestedPlan`).
 */
async function withNested(conn: Conn, explain: () => Promise<string>): Promise<string> {
  await conn.unsafe("load 'auto_explain'");
  await conn.unsafe(
    `set local auto_explain.log_min_duration = 0;
     set local auto_explain.log_analyze = on;
     set local auto_explain.log_buffers = on;
     set local auto_explain.log_nested_statements = on;
     set local auto_explain.log_triggers = on;
     set local auto_explain.log_level = notice;
     set local client_min_messages = notice`,
  );
  notices = [];
  try {
    const plan = await explain();
    // The top-level statement is reported too (last): its plan is the EXPLAIN's own.
    const nested = notices.slice(0, -1).map(nestedPlan);
    return [plan, "", "Statements inside the function (auto_explain):", ...nested].join("\n");
  } finally {
    notices = undefined;
    await conn.unsafe("set local auto_explain.log_min_duration = -1");
  }
}

/**
 * One auto_explain report as a block of the plan text: "Statement: <its text on one line>", then
 * its plan indented under it. A report is "duration: … plan:", "Query Text: …" (as many lines as
 * the statement has), PostgreSQL 16+ a "Query Parameters: …" line, then the plan, whose first
 * node starts at the left margin.
 */
function nestedPlan(report: string): string {
  const lines = report.split("\n");
  const top = lines.findIndex((line, i) => i > 0 && /^\S.*\(cost=/.test(line));
  const query = lines
    .slice(1, top)
    .filter((line) => !line.startsWith("Query Parameters:"))
    .map((line) => line.replace(/--.*$/, "")) // its comments, which would run on over one line
    .join(" ")
    .replace(/^Query Text:\s*/, "")
    .replace(/\s+/g, " ")
    .trim();
  return [`Statement: ${query}`, ...lines.slice(top).map((line) => `  ${line}`)].join("\n");
}

/**
 * `EXPLAIN` of `statement` (statement `name`'s text, or an EXECUTE of it), as text; for an
 * unfiltered claim, which runs in `_claim`, followed by the plans inside it (`withNested`).
 */
async function explainText(
  conn: Conn,
  name: QueryName,
  statement: string,
  params?: Param[],
): Promise<string> {
  const explain = async () => {
    const plan = await rows(conn, `${EXPLAIN} ${statement}`, params);
    return plan.map((row) => row[0] as string).join("\n");
  };
  return name === "claimJobs" ? withNested(conn, explain) : explain();
}

/**
 * EXPLAIN ANALYZE with bound parameters, in a rolled-back transaction. An unnamed statement
 * is planned with its parameter values (a custom plan), as a prepared one is for its first runs.
 */
async function explainCustom(
  conn: Conn,
  name: QueryName,
  params: Param[],
  options: { q?: Queries; settings?: string } = {},
): Promise<string> {
  [name, params] = routed(name, params, [null]);
  return rolledBack(conn, async () => {
    if (options.settings) await conn.unsafe(options.settings);
    return explainText(conn, name, (options.q ?? queries).text(name), params);
  });
}

/**
 * EXPLAIN ANALYZE EXECUTE of the generic plan (planned without the parameter values), the plan
 * a prepared statement switches to after five runs if it does not look costlier than the custom
 * ones. PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN), so this forces it with plan_cache_mode.
 */
async function explainGeneric(
  conn: Conn,
  name: QueryName,
  literals: string[],
  q: Queries = queries,
): Promise<string> {
  [name, literals] = routed(name, literals, ["null"]);
  const statement = `pgwake_explain_${name.toLowerCase()}`;
  await conn.unsafe(`prepare ${statement} as ${q.text(name)}`);
  try {
    return await rolledBack(conn, async () => {
      await conn.unsafe("set local plan_cache_mode = force_generic_plan");
      return explainText(conn, name, `execute ${statement}(${literals.join(", ")})`);
    });
  } finally {
    await conn.unsafe(`deallocate ${statement}`);
  }
}

/**
 * Runs a statement `runs` times as a named prepared statement, as pgwake does, each run in its
 * own rolled-back transaction, and times the statement's round trip from Node (BEGIN and
 * ROLLBACK not included). The timing goes to the Timings table unless `into` says otherwise.
 */
async function time(
  conn: Conn,
  label: string,
  name: QueryName,
  params: Param[],
  runs: number,
  expectRows?: number,
  options: { q?: Queries; into?: Timing[] } = {},
): Promise<Timing> {
  [name, params] = routed(name, params, [null]);
  const text = (options.q ?? queries).text(name);
  const prepare = !PLANNED_PER_CALL.has(name); // as pgwake runs it
  const [generic0, custom0] = await planCounts(conn, text);
  const samples: number[] = [];
  const start = performance.now();
  for (let i = 0; i < runs; i++) {
    await rolledBack(conn, async () => {
      const t0 = performance.now();
      const result = await conn.unsafe(text, params as never[], { prepare }).values();
      samples.push(performance.now() - t0);
      // A claim that takes nothing answers one row of nulls (carrying `more`): no job.
      const got = name.startsWith("claimJobs")
        ? result.filter((row) => row[0] !== null).length
        : result.length;
      if (expectRows !== undefined && got !== expectRows) {
        throw new Error(`${label}: expected ${expectRows} rows, got ${got}`);
      }
    });
  }
  const [generic1, custom1] = await planCounts(conn, text);
  samples.sort((a, b) => a - b);
  const timing: Timing = {
    label,
    runs,
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    max: samples[samples.length - 1]!,
    cache: prepare ? `${generic1 - generic0} generic, ${custom1 - custom0} custom` : "per call",
  };
  (options.into ?? timings).push(timing);
  log(
    `  ${label}: ${runs} runs in ${((performance.now() - start) / 1000).toFixed(1)} s, ` +
      `p50 ${ms(timing.p50)}, p95 ${ms(timing.p95)}, max ${ms(timing.max)} (${timing.cache})`,
  );
  return timing;
}

// ---------------------------------------------------------------------------------------------
// Data

/**
 * The `attributes` of the job numbered `i` in 'emails': a region, `eu` for 90% of the jobs, `us`
 * for 9.9% and `ap` for 0.1%, and a tenant. Tenant `t0`, a large customer, owns a tenth of the
 * finished jobs and nothing in the backlog (its jobs are all done at the moment measured); every
 * other job belongs to one of `t1` … `t1999`, evenly. All from hashes of `i`: spread evenly over
 * priorities and run_at, and the same on every run.
 */
function attributes(i: string, finished = false): string {
  const bucket = (seed: number, n: number) =>
    `((hashint4(${i} + ${seed})::bigint + 2147483648) % ${n})`;
  const other = `'t' || (1 + ${bucket(1, TENANTS - 1)})`;
  const tenant = finished ? `case when ${bucket(2, 10)} = 0 then 't0' else ${other} end` : other;
  return `jsonb_build_object(
    'region', case when ${bucket(0, 1000)} = 0 then 'ap'
                   when ${bucket(0, 1000)} < 100 then 'us' else 'eu' end,
    'tenant', ${tenant})`;
}

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
  // 10% failed (five attempts, one error), 10% cancelled. On pages packed full, as a production
  // table holds them (lib/packed-pages.ts).
  await step(
    `insert ${FINISHED.toLocaleString("en")} finished jobs`,
    () =>
      withPagesPackedFull(conn, jobs, () =>
        conn.unsafe(`
      insert into ${jobs} (id, queue, state, priority, run_at, payload, attributes, attempt, result,
                           errors, created_at, started_at, finished_at)
      select ${s}.uuid_v7(),
             case when i % 4 = 0 then 'other' else 'emails' end,
             (case when i % 10 < 8 then 'completed' when i % 10 = 8 then 'failed'
                   else 'cancelled' end)::${s}.job_state,
             i % 6,
             t.at,
             jsonb_build_object('to', 'user' || i || '@example.com', 'template', 'welcome'),
             case when i % 4 <> 0 then ${attributes("i", true)} end,
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
      ),
    true,
  );

  // Runnable jobs in 'emails': priorities 0..5, run_at spread over the past hour.
  await step(
    `insert ${QUEUED.toLocaleString("en")} queued jobs`,
    () =>
      conn.unsafe(`
      insert into ${jobs} (id, queue, state, priority, run_at, payload, attributes, created_at)
      select ${s}.uuid_v7(), 'emails', 'queued', i % 6, t.at,
             jsonb_build_object('to', 'user' || i || '@example.com', 'template', 'welcome'),
             ${attributes("i")}, t.at
      from generate_series(1, ${QUEUED}) as i
      cross join lateral (select now() - random() * interval '1 hour' as at) t`),
    true,
  );

  // Delayed jobs, due from ten minutes to a day from now (none falls due during the run).
  await step(
    `insert ${SCHEDULED.toLocaleString("en")} scheduled jobs`,
    () =>
      conn.unsafe(`
      insert into ${jobs} (id, queue, state, priority, run_at, payload, attributes)
      select ${s}.uuid_v7(), 'emails', 'scheduled', 0,
             now() + interval '10 minutes' + random() * interval '1 day',
             jsonb_build_object('to', 'user' || i || '@example.com', 'template', 'reminder'),
             ${attributes("i")}
      from generate_series(1, ${SCHEDULED}) as i`),
    true,
  );

  // Leased jobs whose leases outlast the run (so tickQueue rescues none).
  await step(
    `insert ${RUNNING.toLocaleString("en")} running jobs`,
    () =>
      conn.unsafe(`
      insert into ${jobs} (id, queue, state, priority, run_at, payload, attributes, attempt,
                           lease_token, lease_expires_at, leased_by, created_at, started_at)
      select ${s}.uuid_v7(), 'emails', 'running', i % 6, now() - interval '2 minutes',
             jsonb_build_object('to', 'user' || i || '@example.com', 'template', 'welcome'),
             ${attributes("i")}, 1, gen_random_uuid(),
             now() + interval '1 hour' + random() * interval '1 hour',
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

/**
 * A small schema whose jobs table is filled and never analyzed (`reltuples` = -1, no column
 * statistics), as after a bulk load that autovacuum has not reached yet: explains and times the
 * claim there. With `oldIndex`, the (queue, state) index that earlier migrations created on all
 * jobs is added after the migration and before the insert, to show what it did to the claim.
 */
async function beforeAnalyze(conn: Conn, schema: string, oldIndex: boolean): Promise<void> {
  const fs = quoteIdentifier(schema);
  const fjobs = `${fs}._jobs`;
  const q = new Queries(schema, true);
  log(`\nschema ${schema}, never analyzed${oldIndex ? ", with the old (queue, state) index" : ""}`);
  await step("drop, migrate, create queue", async () => {
    await conn.unsafe(`set client_min_messages = warning; drop schema if exists ${fs} cascade`);
    await migrate(sql, schema);
    // So that no autoanalyze can run while the table is measured.
    await conn.unsafe(`alter table ${fjobs} set (autovacuum_enabled = false)`);
    if (oldIndex) {
      await conn.unsafe(`create index _jobs_queue_state_idx on ${fjobs} (queue, state)`);
    }
    await conn.unsafe(`insert into ${fs}._queues (name) values ('emails')`);
  });
  // Like the queued jobs of the large schema: priorities 0..5, run_at over the past hour, the
  // same attributes.
  await step(`insert ${FRESH_QUEUED.toLocaleString("en")} queued jobs`, () =>
    conn.unsafe(`
      insert into ${fjobs} (id, queue, state, priority, run_at, payload, attributes, created_at)
      select ${fs}.uuid_v7(), 'emails', 'queued', i % 6, t.at,
             jsonb_build_object('to', 'user' || i || '@example.com', 'template', 'welcome'),
             ${attributes("i")}, t.at
      from generate_series(1, ${FRESH_QUEUED}) as i
      cross join lateral (select now() - random() * interval '1 hour' as at) t`),
  );
  const reltuples = async (): Promise<number> =>
    Number(
      (
        await rows(conn, `select reltuples from pg_class where oid = $1::regclass`, [
          `${schema}._jobs`,
        ])
      )[0]![0],
    );
  const before = await reltuples();
  const [[statistics, pages]] = (await rows(
    conn,
    `select (select count(*) from pg_stats where schemaname = $1 and tablename = '_jobs'),
            pg_relation_size($2::regclass) / current_setting('block_size')::bigint`,
    [schema, `${schema}._jobs`],
  )) as [[string, string]];
  log(`  reltuples ${before}, pg_stats rows ${statistics}, pages ${pages}`);
  if (before !== -1) log(`  WARNING: reltuples is ${before}, not -1: the table has been analyzed`);
  const planKey = oldIndex ? "old-index" : "fresh";
  const title = oldIndex
    ? "claimJobs before the first ANALYZE, with the removed (queue, state) index"
    : "claimJobs before the first ANALYZE";
  const call = `claimJobs('emails', ${CLAIM_LIMIT}, 'explain')  -- ${FRESH_QUEUED.toLocaleString("en")} queued jobs, schema ${schema}`;
  record(
    planKey,
    `${title}, custom plan`,
    call,
    await explainCustom(conn, "claimJobs", ["emails", CLAIM_LIMIT, "explain", null], { q }),
  );
  record(
    `${planKey}-generic`,
    `${title}, generic plan`,
    call,
    await explainGeneric(
      conn,
      "claimJobs",
      ["'emails'", String(CLAIM_LIMIT), "'explain'", "null"],
      q,
    ),
  );
  if (!oldIndex) {
    const json = filterJson(FRESH_FILTER);
    record(
      `${planKey}-filter`,
      `claimJobs before the first ANALYZE, filter ${json}, custom plan`,
      `claimJobs('emails', ${CLAIM_LIMIT}, 'explain', '${json}')  -- schema ${schema}`,
      await explainCustom(conn, "claimJobs", ["emails", CLAIM_LIMIT, "explain", json], { q }),
    );
  }
  const timing = await time(
    conn,
    `claimJobs (limit ${CLAIM_LIMIT}), ${schema}`,
    "claimJobs",
    ["emails", CLAIM_LIMIT, "bench", null],
    oldIndex ? RUNS / 4 : RUNS,
    CLAIM_LIMIT,
    { q, into: [] },
  );
  const after = await reltuples();
  log(`  reltuples after the measurements ${after}`);
  freshRuns.push({
    schema,
    oldIndex,
    reltuples: [before, after],
    statistics: Number(statistics),
    pages: Number(pages),
    planKey,
    timing,
  });
}

// ---------------------------------------------------------------------------------------------
// Reading plans (for the findings written under them; the plans themselves are printed whole)

function planOf(key: string): string {
  const plan = plans.find((p) => p.key === key);
  if (!plan) throw new Error(`no plan ${key}`);
  return plan.text;
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
    // PostgreSQL 18 prints actual rows with two decimals (an average over loops).
    rows: num(line, /actual time=[\d.]+\.\.[\d.]+ rows=([\d.]+)/),
    loops: num(line, /loops=(\d+)\)/),
    hit: num(details, /Buffers: shared hit=(\d+)/),
    read: num(details, /Buffers: shared (?:hit=\d+ )?read=(\d+)/),
  };
}

/** A plan node's name: "Index Scan using _jobs_claim_idx on _jobs", "Sort", ... */
function nodeName(line: string): string {
  return line
    .trim()
    .replace(/^->\s+/, "")
    .replace(/\s+\(cost=.*$/, "");
}

/** The estimated rows of a plan node line. */
function estimated(line: string | undefined): number | undefined {
  return line ? num(line, /cost=[\d.]+\.\.[\d.]+ rows=(\d+)/) : undefined;
}

/** The actual total time of a plan node line, in ms. */
function actualTime(line: string | undefined): number | undefined {
  return line ? num(line, /actual time=[\d.]+\.\.([\d.]+)/) : undefined;
}

/**
 * The lines of the claim's pick: the `picked` CTE of a filtered claim's statement, or for an
 * unfiltered one (`_claim`) the plan of the pick inside `_claim_pick`, from its Limit down.
 */
function pickedLines(plan: string): string[] {
  const lines = plan.split("\n");
  const subtree = (from: number) => {
    const indent = lines[from]!.search(/\S/);
    const end = lines.findIndex((line, i) => i > from && line.search(/\S/) <= indent);
    return end < 0 ? lines.slice(from) : lines.slice(from, end);
  };
  const cte = lines.findIndex((line) => /^\s*CTE picked/.test(line));
  if (cte >= 0) return subtree(cte).slice(1);
  const pick = lines.findIndex((line) => /^Statement: .*for update skip locked/i.test(line));
  const limit = lines.findIndex((line, i) => i > pick && /^\s*(->\s+)?Limit /.test(line));
  return pick < 0 || limit < 0 ? [] : subtree(limit);
}

/** The node path of the claim's `picked` CTE: "Limit → LockRows → Index Scan using …". */
function pickedShape(plan: string): string {
  return pickedLines(plan)
    .filter((line) => line.includes("(cost="))
    .map(nodeName)
    .join(" → ");
}

/** The scan of `_jobs` under the claim's `picked` CTE, and the Sort above it if there is one. */
function pickedScan(plan: string): { scan?: PlanNode; sort?: PlanNode } {
  const text = pickedLines(plan).join("\n");
  return {
    scan: node(text, /(?:Scan|Bitmap Heap Scan)(?: using \w+)? on _jobs\b/),
    sort: node(text, /->\s+(?:Incremental )?Sort /),
  };
}

interface Branch {
  /** Which count: queued, scheduled, running, finished. */
  label: string;
  /** The scan of `_jobs` in the branch. */
  scan: string;
  rows?: number;
  heapFetches?: number;
  buffers: string;
  estimatedCost?: number;
  ms?: number;
}

const STATS_BRANCHES = ["queued", "waiting", "scheduled", "running", "finished"];

/**
 * The branches of queueStats' UNION ALL: the children of the plan's Append (or Parallel Append,
 * which PostgreSQL 18 may put under a Gather and reorder), named by what they count and returned
 * in the statement's order.
 */
function appendBranches(plan: string): Branch[] {
  const lines = plan.split("\n");
  const at = lines.findIndex((line) => /^(?:\s*->\s+)?(?:Parallel )?Append\b/.test(line));
  if (at < 0) return [];
  const childCol = lines[at]!.search(/(?:Parallel )?Append\b/) + 2;
  const isChild = (line: string) =>
    line.indexOf("->") === childCol && line.slice(0, childCol).trim() === "";
  const starts: number[] = [];
  for (let i = at + 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() !== "" && line.search(/\S/) < childCol) break;
    if (isChild(line)) starts.push(i);
  }
  const branches = starts.map((start, k) => {
    const next = starts[k + 1];
    let stop = start + 1;
    while (
      stop < lines.length &&
      stop !== next &&
      (lines[stop]!.trim() === "" || lines[stop]!.search(/\S/) > childCol)
    ) {
      stop++;
    }
    const chunk = lines.slice(start, stop);
    const text = chunk.join("\n");
    const scan = node(
      text,
      /(?:Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan)\b.* on _jobs\b/,
    );
    const index = text.match(/using _jobs_(claim|waiting|scheduled|running|finished)_idx/)?.[1];
    const label = /Group Key/.test(text)
      ? "finished"
      : ((
          {
            claim: "queued",
            waiting: "waiting",
            scheduled: "scheduled",
            running: "running",
          } as Record<string, string>
        )[index ?? ""] ?? `branch ${k + 1}`);
    return {
      label,
      scan: scan ? nodeName(scan.line).replace(/ on _jobs\b.*$/, "") : "?",
      rows: scan?.rows !== undefined ? Math.round(scan.rows * (scan.loops ?? 1)) : undefined,
      heapFetches: scan ? num(scan.details, /Heap Fetches: (\d+)/) : undefined,
      buffers: text.match(/Buffers: (shared [^\n]*)/)?.[1] ?? "?",
      estimatedCost: num(chunk[0]!, /cost=[\d.]+\.\.([\d.]+)/),
      ms: actualTime(chunk[0]),
    };
  });
  const order = (b: Branch) => {
    const i = STATS_BRANCHES.indexOf(b.label);
    return i < 0 ? STATS_BRANCHES.length : i;
  };
  return branches.sort((a, b) => order(a) - order(b));
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

/** Whether a plan is one of a filtered claim or of cancelJobsWhere (by its key). */
function isFilteredPlan(key: string): boolean {
  return /^(filter-|index\d+-|cancel)|-filter$/.test(key);
}

function fmt(n: number | undefined): string {
  return n === undefined ? "?" : n.toLocaleString("en");
}

// ---------------------------------------------------------------------------------------------
// Filtered claims and cancel({ filter })

function filterJson(filter: Record<string, string>): string {
  return JSON.stringify(filter);
}

async function countMatches(
  conn: Conn,
  key: string,
  filter: Record<string, string>,
): Promise<void> {
  const [[queued, unfinished, finished]] = (await rows(
    conn,
    `select count(*) filter (where state = 'queued'),
            count(*) filter (where state in ('waiting', 'scheduled', 'queued', 'running')),
            count(*) filter (where state in ('completed', 'failed', 'cancelled'))
     from ${jobs} where queue = 'emails' and attributes @> $1::text::jsonb`,
    [filterJson(filter)],
  )) as [[string, string, string]];
  filterMatches.set(key, {
    queued: Number(queued),
    unfinished: Number(unfinished),
    finished: Number(finished),
  });
}

/** EXPLAIN of claims with each filter of FILTER_CASES, and of cancelJobsWhere. */
async function explainFiltered(conn: Conn): Promise<void> {
  const [[loaded]] = (await rows(
    conn,
    `select pg_size_pretty(pg_relation_size('${SCHEMA}._jobs_attributes_idx'))`,
  )) as [[string]];
  attributeIndexSizes.loaded = loaded;
  for (const f of FILTER_CASES) await countMatches(conn, f.key, f.filter);
  await countMatches(conn, "cancel", CANCEL_FILTER);
  for (const f of FILTER_CASES) {
    const json = filterJson(f.filter);
    const call = `claimJobs('emails', ${CLAIM_LIMIT}, 'explain', '${json}')`;
    const title = `claimJobs, filter ${json} (${f.what})`;
    const args = ["emails", CLAIM_LIMIT, "explain", json];
    record(
      `filter-${f.key}`,
      `${title}, custom plan`,
      call,
      await explainCustom(conn, "claimJobs", args),
    );
    if (f.generic) {
      record(
        `filter-${f.key}-generic`,
        `${title}, generic plan`,
        call,
        await explainGeneric(conn, "claimJobs", [
          "'emails'",
          String(CLAIM_LIMIT),
          "'explain'",
          `'${json}'`,
        ]),
      );
    }
    if (f.forced) {
      record(
        `filter-${f.key}-forced`,
        `${title}, custom plan with enable_indexscan = off`,
        call,
        await explainCustom(conn, "claimJobs", args, {
          settings: "set local enable_indexscan = off",
        }),
      );
    }
  }
  const json = filterJson(CANCEL_FILTER);
  const call = `cancelJobsWhere('emails', '${json}')`;
  record(
    "cancel",
    "cancelJobsWhere, custom plan",
    call,
    await explainCustom(conn, "cancelJobsWhere", ["emails", json]),
  );
  record(
    "cancel-generic",
    "cancelJobsWhere, generic plan",
    call,
    await explainGeneric(conn, "cancelJobsWhere", ["'emails'", `'${json}'`]),
  );
}

/** The migrations that create `_jobs_attributes_idx`, with their `create index` statements. */
function attributeIndexMigrations(): Array<{ version: string; ddl: string }> {
  return migrationFiles().flatMap((file) => {
    const ddl = /create index _jobs_attributes_idx\b[^;]*/i.exec(file.text)?.[0];
    return ddl ? [{ version: String(file.version).padStart(4, "0"), ddl }] : [];
  });
}

/**
 * `_jobs_attributes_idx` as the first migration that created it defined it (0002: queued jobs
 * only) and as the last one does (0005: every unfinished state), each built in one pass in a
 * transaction that is rolled back. With each: cancelJobsWhere and the selective claim; then what
 * claims and heartbeats write to it: one claim of WRITE_CLAIMS jobs, one heartbeat of every
 * running job, and after them the claim with a filter on no job, whose Bitmap Index Scan reads
 * whatever those writes left in the GIN index's pending list.
 */
async function compareAttributeIndexes(conn: Conn): Promise<void> {
  const definitions = attributeIndexMigrations();
  if (definitions.length < 2) return;
  const explain = async (name: QueryName, params: Param[], keep = false): Promise<string> => {
    [name, params] = routed(name, params, [null]);
    if (!keep) await conn.unsafe("savepoint explain");
    try {
      const plan = await rows(conn, `${EXPLAIN} ${queries.text(name)}`, params);
      return plan.map((row) => row[0] as string).join("\n");
    } finally {
      if (!keep) await conn.unsafe("rollback to savepoint explain");
    }
  };
  const rare = filterJson(FILTER_CASES.find((f) => f.key === "rare")!.filter);
  const absent = filterJson(FILTER_CASES.find((f) => f.key === "absent")!.filter);
  const cancelJson = filterJson(CANCEL_FILTER);
  await rolledBack(conn, async () => {
    for (const { version, ddl } of [definitions[0]!, definitions.at(-1)!]) {
      const as = `as in migration ${version}`;
      await conn.unsafe("savepoint variant");
      const start = performance.now();
      await conn.unsafe(`drop index ${s}._jobs_attributes_idx`);
      await conn.unsafe(renderSql(ddl, SCHEMA));
      const seconds = (performance.now() - start) / 1000;
      const [[size]] = (await rows(
        conn,
        `select pg_size_pretty(pg_relation_size('${SCHEMA}._jobs_attributes_idx'))`,
      )) as [[string]];
      record(
        `index${version}-cancel`,
        `cancelJobsWhere with _jobs_attributes_idx ${as}, custom plan`,
        `cancelJobsWhere('emails', '${cancelJson}')`,
        await explain("cancelJobsWhere", ["emails", cancelJson]),
      );
      record(
        `index${version}-rare`,
        `claimJobs, filter ${rare}, with _jobs_attributes_idx ${as}, custom plan`,
        `claimJobs('emails', ${CLAIM_LIMIT}, 'explain', '${rare}')`,
        await explain("claimJobs", ["emails", CLAIM_LIMIT, "explain", rare]),
      );
      // The writes stay (until the savepoint is rolled back): each sees the ones before it.
      record(
        `index${version}-claims`,
        `claimJobs of ${fmt(WRITE_CLAIMS)} jobs with _jobs_attributes_idx ${as}`,
        `claimJobs('emails', ${WRITE_CLAIMS}, 'explain')`,
        await explain("claimJobs", ["emails", WRITE_CLAIMS, "explain", null], true),
      );
      const [[batch, heartbeats]] = (await rows(
        conn,
        `select json_agg(json_build_object('id', id, 'token', lease_token, 'lease_ms', 30000))::text,
                count(*)
         from ${jobs} where state = 'running'`,
      )) as [[string, string]];
      // Not recorded: the custom plan prints the whole batch, one JSON literal.
      const heartbeat = await explain("heartbeatJobs", [batch], true);
      heartbeatPlans.set(version, heartbeat);
      record(
        `index${version}-absent-written`,
        `claimJobs, filter ${absent}, with _jobs_attributes_idx ${as}, after those writes`,
        `claimJobs('emails', ${CLAIM_LIMIT}, 'explain', '${absent}')`,
        await explain("claimJobs", ["emails", CLAIM_LIMIT, "explain", absent]),
      );
      indexVariants.push({
        version,
        predicate: /\bwhere\s+([\s\S]*)$/i.exec(ddl)![1]!.replace(/\s+/g, " ").trim(),
        size,
        seconds,
        heartbeats: Number(heartbeats),
      });
      await conn.unsafe("rollback to savepoint variant");
    }
  });
}

/** Times the filtered claims and cancelJobsWhere like the other statements (Timings). */
async function timeFiltered(conn: Conn): Promise<void> {
  for (const f of FILTER_CASES) {
    const json = filterJson(f.filter);
    await time(
      conn,
      `claimJobs (limit ${CLAIM_LIMIT}), filter \`${json}\``,
      "claimJobs",
      ["emails", CLAIM_LIMIT, "bench", json],
      f.runs,
      Math.min(CLAIM_LIMIT, filterMatches.get(f.key)!.queued),
    );
  }
  await time(
    conn,
    `cancelJobsWhere \`${filterJson(CANCEL_FILTER)}\``,
    "cancelJobsWhere",
    ["emails", filterJson(CANCEL_FILTER)],
    STATS_RUNS,
    filterMatches.get("cancel")!.unfinished,
  );
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = performance.now();
  const conn = await sql.reserve();
  try {
    await beforeAnalyze(conn, FRESH_SCHEMA, false);
    await beforeAnalyze(conn, OLD_SCHEMA, true);
    log();
    await load(conn);

    const [[version]] = (await rows(conn, "select version()")) as [[string]];
    const settings = (await rows(
      conn,
      `select name, setting || coalesce(' (' || unit || ')', '') from pg_settings
       where name in ('shared_buffers', 'work_mem', 'effective_cache_size', 'random_page_cost',
                      'jit', 'max_parallel_workers_per_gather', 'plan_cache_mode', 'fsync',
                      'synchronous_commit', 'full_page_writes', 'gin_pending_list_limit',
                      'autovacuum')
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
    const indexes = (
      await rows(
        conn,
        `select indexname, regexp_replace(indexdef, '^.* USING (btree )?', '')
         from pg_indexes where schemaname = $1 and tablename = '_jobs' order by indexname`,
        [SCHEMA],
      )
    ).map(([name, def]) => [name as string, def as string] as const);
    const [[attributeBytes]] = (await rows(
      conn,
      `select pg_size_pretty(sum(pg_column_size(attributes))) from ${jobs}`,
    )) as [[string]];
    // The attributes of the 'emails' jobs, finished ones together.
    const attributeMix = (
      await rows(
        conn,
        `select case when state in ('completed', 'failed', 'cancelled') then 'finished'
                     else state::text end,
                count(*),
                count(*) filter (where attributes ->> 'region' = 'eu'),
                count(*) filter (where attributes ->> 'region' = 'us'),
                count(*) filter (where attributes ->> 'region' = 'ap'),
                count(*) filter (where attributes ->> 'tenant' = 't0'),
                count(distinct attributes ->> 'tenant')
         from ${jobs} where queue = 'emails' group by 1 order by 2 desc`,
      )
    ).map(([state, ...n]) => [state as string, ...n.map(Number)] as const);
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
    const claimArgs = ["emails", CLAIM_LIMIT, "explain", null];
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
      await explainGeneric(conn, "claimJobs", [
        "'emails'",
        String(CLAIM_LIMIT),
        "'explain'",
        "null",
      ]),
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
      "stats-noseq",
      "queueStats, custom plan with enable_seqscan = off",
      "queueStats('emails')",
      await explainCustom(conn, "queueStats", ["emails"], {
        settings: "set local enable_seqscan = off",
      }),
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
      ["emails", CLAIM_LIMIT, "bench", null],
      RUNS,
      CLAIM_LIMIT,
    );
    await time(conn, "tickQueue", "tickQueue", ["emails"], RUNS, 1);
    await time(conn, "jobOutcomes (100 ids)", "jobOutcomes", [ids], RUNS, 100);
    await time(conn, "queueStats", "queueStats", ["emails"], STATS_RUNS);

    // After the unfiltered statements, so that their numbers are measured as before. Their
    // rolled-back statements may have left entries in the GIN index's pending list; vacuum empties it, so the filtered claims start from a clean index. What the
    // pending list costs is measured on its own: after the timed runs, and in the comparison.
    log("\nfiltered claims and cancelJobsWhere");
    await step("vacuum", () => conn.unsafe(`vacuum ${jobs}`));
    await explainFiltered(conn);
    await timeFiltered(conn);
    const absent = filterJson(FILTER_CASES.find((c) => c.key === "absent")!.filter);
    record(
      "filter-absent-timed",
      `claimJobs, filter ${absent}, after the timed runs, custom plan`,
      `claimJobs('emails', ${CLAIM_LIMIT}, 'explain', '${absent}')`,
      await explainCustom(conn, "claimJobs", ["emails", CLAIM_LIMIT, "explain", absent]),
    );
    await compareAttributeIndexes(conn);

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
      ["emails", CLAIM_LIMIT, "bench", null],
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
      ["emails", CLAIM_LIMIT, "bench", null],
      RUNS,
      CLAIM_LIMIT,
    );
    const [[autovacuums]] = (await rows(
      conn,
      `select autovacuum_count + autoanalyze_count from pg_stat_user_tables where relid = $1::regclass`,
      [`${SCHEMA}._jobs`],
    )) as [[string]];

    const minutes = (performance.now() - started) / 60_000;
    const compare = COMPARE && existsSync(COMPARE) ? readSummary(COMPARE) : undefined;
    if (COMPARE && !compare) log(`EXPLAIN_COMPARE: ${COMPARE} not found, no comparison`);
    const doc = report(
      {
        version,
        settings,
        counts,
        total,
        sizes,
        indexes,
        attributeMix,
        attributeBytes,
        claimIndexEntries,
        autovacuums: Number(autovacuums),
        minutes,
      },
      compare,
    );
    if (SUMMARY) {
      writeFileSync(SUMMARY, `${JSON.stringify(summary(version, settings), null, 2)}\n`);
      log(`wrote ${SUMMARY}`);
    }
    await writeFormatted(OUT, doc);
    log(`\nwrote ${OUT} (run took ${minutes.toFixed(1)} min)`);
  } finally {
    conn.release();
    const all = [SCHEMA, FRESH_SCHEMA, OLD_SCHEMA];
    if (!KEEP) {
      for (const schema of all) {
        await sql.unsafe(`drop schema if exists ${quoteIdentifier(schema)} cascade`);
      }
    } else log(`kept schemas ${all.join(", ")}`);
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
  /** Index name and definition (`pg_indexes.indexdef` from the column list on). */
  indexes: ReadonlyArray<readonly [string, string]>;
  /** Per state (finished states together): jobs, region eu, us, ap, tenant t0, tenants. */
  attributeMix: ReadonlyArray<readonly [string, ...number[]]>;
  /** The size of all `attributes` values (`pg_column_size`), pretty-printed. */
  attributeBytes: string;
  claimIndexEntries: number;
  autovacuums: number;
  minutes: number;
}

function isLocal(): boolean {
  return ["127.0.0.1", "localhost", "::1", "[::1]", ""].includes(new URL(DATABASE_URL).hostname);
}

function shortVersion(version: string): string {
  return version.match(/PostgreSQL [\d.]+\w*/)?.[0] ?? version;
}

function freshRun(oldIndex: boolean): FreshRun {
  const run = freshRuns.find((r) => r.oldIndex === oldIndex);
  if (!run) throw new Error(`no before-ANALYZE run ${oldIndex ? "with" : "without"} old index`);
  return run;
}

function finishedScan(key: string): string {
  return appendBranches(planOf(key)).find((b) => b.label === "finished")?.scan ?? "?";
}

function summary(version: string, settings: Array<[string, string]>): Summary {
  const claimTiming = timings[0]!;
  return {
    version,
    settings: settings.map(([name, value]) => `${name} = ${value}`).join(", "),
    local: isLocal(),
    claimPicked: pickedShape(planOf("claim")),
    claimExec: execTime(planOf("claim")),
    claimP50: claimTiming.p50,
    claimP95: claimTiming.p95,
    freshPicked: pickedShape(planOf("fresh")),
    freshGenericPicked: pickedShape(planOf("fresh-generic")),
    freshExec: execTime(planOf("fresh")),
    freshP50: freshRun(false).timing.p50,
    oldPicked: pickedShape(planOf("old-index")),
    oldExec: execTime(planOf("old-index")),
    oldP50: freshRun(true).timing.p50,
    statsExec: execTime(planOf("stats")),
    statsFinished: finishedScan("stats"),
    statsGenericFinished: finishedScan("stats-generic"),
    statsP50: timings.find((t) => t.label === "queueStats")!.p50,
    churnFirstExec: execTime(planOf("churn-1")),
  };
}

function readSummary(path: string): Summary {
  return JSON.parse(readFileSync(path, "utf8")) as Summary;
}

/** Whether some statement in sql/queries/ deletes jobs (comments left out). */
function queriesDelete(): boolean {
  return readdirSync(QUERY_DIR)
    .filter((name) => name.endsWith(".sql"))
    .some((name) =>
      /\bdelete\s+from\b/i.test(readFileSync(`${QUERY_DIR}${name}`, "utf8").replace(/--.*$/gm, "")),
    );
}

/** The `picked` CTE's access path, short: "walk of `_jobs_claim_idx`", "bitmap of … + Sort". */
function access(plan: string): string {
  const { scan, sort } = pickedScan(plan);
  const bitmap = node(pickedLines(plan).join("\n"), /Bitmap Index Scan on \w+/);
  if (bitmap) {
    const index = bitmap.line.match(/Bitmap Index Scan on (\w+)/)![1]!;
    return `bitmap of \`${index}\`${sort ? ", Sort" : ""}`;
  }
  const walk = scan?.line.match(/Index Scan using (\w+)/)?.[1];
  if (walk) return `walk of \`${walk}\`${sort ? ", Sort" : ""}`;
  return `\`${pickedShape(plan)}\``;
}

/** Rows the scan under the `picked` CTE produced, plus those its Filter removed. */
function rowsRead(plan: string): number | undefined {
  const scan = pickedScan(plan).scan;
  if (scan?.rows === undefined) return undefined;
  return scan.rows + (num(scan.details, /Rows Removed by Filter: (\d+)/) ?? 0);
}

/** Buffers (hit + read) of the `picked` CTE: its Limit node. */
function pickedBuffers(plan: string): number | undefined {
  const limit = node(pickedLines(plan).join("\n"), /->\s+Limit /);
  return limit?.hit === undefined ? undefined : limit.hit + (limit.read ?? 0);
}

/** The rows the Bitmap Index Scan of a plan returned, and its buffers. */
function bitmapIndex(plan: string): PlanNode | undefined {
  return node(plan, /Bitmap Index Scan on _jobs_attributes\w*_idx/);
}

/** The plan's nodes from the top, for plans with one child per node: "Update on _jobs → …". */
function shapeOf(plan: string): string {
  return plan
    .split("\n")
    .filter((line) => line.includes("(cost="))
    .map(nodeName)
    .join(" → ");
}

/** Shared buffers hit + read in a node's details (its first `Buffers:` line). */
function bufferCount(details: string | undefined): number | undefined {
  const line = details?.match(/Buffers: shared [^\n]*/)?.[0];
  if (!line) return undefined;
  return (num(line, /hit=(\d+)/) ?? 0) + (num(line, /read=(\d+)/) ?? 0);
}

/** Shared buffers hit + read by the whole statement (the top node's). */
function totalBuffers(plan: string): number | undefined {
  return bufferCount(plan);
}

/** Rows a scan returned plus those its Filter removed. */
function scanned(scan: PlanNode | undefined): number | undefined {
  if (scan?.rows === undefined) return undefined;
  return scan.rows + (num(scan.details, /Rows Removed by Filter: (\d+)/) ?? 0);
}

/** The heap pages a Bitmap Heap Scan read. */
function heapPages(scan: PlanNode | undefined): number | undefined {
  return num(scan?.details ?? "", /Heap Blocks: exact=(\d+)/);
}

/** The section “Filtered claims” of the report. */
function filteredClaims(p: (...lines: string[]) => void, f: Facts): void {
  const byKey = (key: string) => FILTER_CASES.find((c) => c.key === key)!;
  const json = (key: string) => `\`${filterJson(byKey(key).filter)}\``;
  const matches = (key: string) => filterMatches.get(key)!;
  const timing = (key: string) =>
    timings.find((t) => t.label.endsWith(`filter \`${filterJson(byKey(key).filter)}\``));
  const queuedTotal = f.attributeMix.find(([state]) => state === "queued")?.[1] ?? QUEUED;
  const rare = planOf("filter-rare");
  const rareGeneric = planOf("filter-rare-generic");
  const common = planOf("filter-common");
  const commonGeneric = planOf("filter-common-generic");
  const commonForced = planOf("filter-common-forced");
  const none = planOf("filter-none");
  const noneForced = planOf("filter-none-forced");
  const absent = planOf("filter-absent");
  const fresh = planOf("fresh-filter");
  const cancel = planOf("cancel");
  const cancelGeneric = planOf("cancel-generic");
  const scanOf = (plan: string) => pickedScan(plan).scan;
  const attributesIndex =
    f.indexes
      .find(([name]) => name === "_jobs_attributes_idx")?.[1]
      ?.replaceAll(`${SCHEMA}.`, "") ?? "?";
  const sortOf = (plan: string) => pickedScan(plan).sort;
  const sortMethod = (plan: string) =>
    sortOf(plan)
      ?.details.match(/Sort Method: [^\n]*/)?.[0]
      ?.trim() ?? "?";
  const heapBlocks = (plan: string) => num(scanOf(plan)?.details ?? "", /Heap Blocks: exact=(\d+)/);
  const isWalk = (plan: string) => /^walk of `_jobs_claim_idx`$/.test(access(plan));
  const isBitmap = (plan: string) => access(plan).startsWith("bitmap of `_jobs_attributes_idx`");
  // Whether the loaded index (the migrations' last definition) holds every unfinished state.
  const unfinishedIndex = /'scheduled'/.test(attributesIndex);
  const withRunning = /'running'/.test(attributesIndex);
  const versions = attributeIndexMigrations().map((m) => m.version);

  p(
    "`receive({ filter })` and `work(…, { filter })` claim with `claimJobsWhere`, a statement " +
      "of its own whose `picked` CTE adds `and attributes @> $4::text::jsonb` to the claim's " +
      "conditions (`$4`: the filter as JSON text). pgwake runs it unprepared, so that each call " +
      "is planned for its filter: a prepared statement settles on one generic plan for every " +
      "filter after five calls (see “Generic plans” below). `cancel({ filter })` runs `cancelJobsWhere`: " +
      "`where queue = $1 and attributes @> $2::text::jsonb and (state in ('waiting', 'scheduled', " +
      "'queued') or state = 'running')`. The index for filters is `_jobs_attributes_idx`: " +
      `\`${attributesIndex}\` (${attributeIndexSizes.loaded ?? "?"} after loading)` +
      (versions.length > 1
        ? `, as migration ${versions.at(-1)} defines it (migration ${versions[0]} created it ` +
          "for queued jobs only; see “Migration " +
          `${versions[0]}'s index and migration ${versions.at(-1)}'s” below). `
        : `, from migration ${versions[0] ?? "?"}. `) +
      "It is partial twice over: only " +
      (withRunning
        ? "unfinished jobs (waiting, scheduled, queued and running; the finished jobs, most of " +
          "the table, have no entry)"
        : unfinishedIndex
          ? "jobs not yet running (waiting, scheduled and queued; running and finished jobs have " +
            "no entry, and the cancel finds running ones through `_jobs_running_idx`)"
          : "queued jobs") +
      ", and only those with attributes.",
  );
  p(
    "How a filter reaches that index. Planned for the call, the condition is `attributes @> " +
      "'<filter>'::jsonb`, and because " +
      "`@>` is strict it implies the index's `attributes IS NOT NULL`, while `state = " +
      "'queued'` " +
      (unfinishedIndex
        ? "implies the rest of its predicate (queued is one of the states it lists). "
        : "matches the rest of its predicate. ") +
      "The planner can then choose between two paths: a bitmap of the GIN index (every job in " +
      "the index whose attributes contain the filter, fetched" +
      (unfinishedIndex
        ? ", those not queued or of another queue dropped by a Filter, the rest"
        : ", then") +
      " sorted into claim order), or the walk of `_jobs_claim_idx` in claim order " +
      "with the filter checked on each row until the limit is reached. It chooses by its " +
      "estimate of how many queued jobs match. A generic plan does not know the filter, guesses " +
      "the same share of matches for every one, and so takes the same path for all of them.",
  );
  p(
    `What each claim read (\`claimJobs('emails', ${CLAIM_LIMIT}, …, filter)\`, ` +
      `${fmt(queuedTotal)} queued jobs in the queue; matching: jobs of \`emails\` whose ` +
      "attributes contain the filter, counted after loading; estimated: the planner's rows for " +
      "the scan under the `picked` CTE; rows read: rows that scan returned plus those its Filter " +
      "removed; buffers: of the `picked` CTE, shared hit + read; p50: the statement as pgwake " +
      "runs it, unprepared, under “Timings”):",
  );
  const row = (label: string, key: string, plan: string, withTiming: boolean) => {
    const m = matches(key);
    const t = timing(key);
    return (
      `| ${label} | ${fmt(m.queued)} | ${fmt(m.finished)} | ${access(plan)} | ` +
      `${fmt(estimated(scanOf(plan)?.line))} | ${fmt(rowsRead(plan))} | ` +
      `${fmt(pickedBuffers(plan))} | ` +
      `${execTime(plan)} ms | ${withTiming && t ? `${ms(t.p50)} (${t.cache})` : ""} |`
    );
  };
  p(
    "| filter, plan | queued matching | finished matching | `picked` CTE | estimated | " +
      "rows read | buffers | Execution Time | p50 (plan cache) |",
    "| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    row(`${json("rare")} (${byKey("rare").what}), custom`, "rare", rare, true),
    row(`${json("rare")}, generic`, "rare", rareGeneric, false),
    row(`${json("common")} (${byKey("common").what}), custom`, "common", common, true),
    row(`${json("common")}, generic`, "common", commonGeneric, false),
    row(`${json("common")}, custom, \`enable_indexscan = off\``, "common", commonForced, false),
    row(`${json("none")} (${byKey("none").what}), custom`, "none", none, true),
    row(`${json("none")}, custom, \`enable_indexscan = off\``, "none", noneForced, false),
    row(`${json("absent")} (${byKey("absent").what}), custom`, "absent", absent, true),
  );

  const bullets: string[] = [];
  const rareIndex = bitmapIndex(rare);
  const rareRemoved = num(scanOf(rare)?.details ?? "", /Rows Removed by Filter: (\d+)/);
  bullets.push(
    `- **Selective filter** (${json("rare")}, ${fmt(matches("rare").queued)} of ` +
      `${fmt(queuedTotal)} queued jobs). ` +
      (isBitmap(rare)
        ? `The custom plan's \`picked\` CTE is \`${pickedShape(rare)}\`. The Bitmap Index Scan ` +
          `returned ${fmt(rareIndex?.rows)} entries for ${fmt(rareIndex?.hit)} buffers, the heap ` +
          `scan read ${fmt(heapBlocks(rare))} pages and kept ${fmt(scanOf(rare)?.rows)} rows` +
          (rareRemoved
            ? ` (its Filter dropped ${fmt(rareRemoved)}: matching jobs that are scheduled or ` +
              "waiting, which the index holds too)"
            : "") +
          `, and the Sort ordered them all (\`${sortMethod(rare)}\`) before LockRows locked the ` +
          `first ${CLAIM_LIMIT}: ${fmt(pickedBuffers(rare))} buffers for the CTE, Execution Time ` +
          `${execTime(rare)} ms. The Sort sits under LockRows, so it is not a bounded top-N sort: ` +
          `the cost grows with the number of ${unfinishedIndex ? "unfinished" : "queued"} jobs ` +
          "that match, and neither with the rest of the backlog nor with the finished jobs " +
          "(which are not in the index)."
        : `**The custom plan did not use the GIN index**: \`${pickedShape(rare)}\`, ` +
          `${fmt(rowsRead(rare))} rows read, Execution Time ${execTime(rare)} ms.`),
  );
  const forcedIndex = bitmapIndex(commonForced);
  bullets.push(
    `- **Broad filter** (${json("common")}, ${fmt(matches("common").queued)} queued jobs). ` +
      (isWalk(common)
        ? `The custom plan walks \`_jobs_claim_idx\` (\`${pickedShape(common)}\`) with the ` +
          `filter on each row: ${fmt(rowsRead(common))} rows read for ${CLAIM_LIMIT} claimed, ` +
          `${fmt(pickedBuffers(common))} buffers, Execution Time ${execTime(common)} ms, as cheap ` +
          "as the unfiltered claim. "
        : `**The custom plan did not walk the claim index**: \`${pickedShape(common)}\`, ` +
          `Execution Time ${execTime(common)} ms. `) +
      (forcedIndex
        ? "The GIN path would have been the wrong choice here: with `enable_indexscan = off` " +
          `(so that only bitmap paths remain) the Bitmap Index Scan returned ` +
          `${fmt(forcedIndex.rows)} entries, the heap scan fetched ${fmt(scanOf(commonForced)?.rows)} ` +
          `rows from ${fmt(heapBlocks(commonForced))} pages and the Sort ordered all of them ` +
          `(\`${sortMethod(commonForced)}\`), Execution Time ${execTime(commonForced)} ms, ` +
          `${(execTime(commonForced) / execTime(common)).toFixed(0)} times the walk. The planner ` +
          `estimated rows=${fmt(estimated(scanOf(common)?.line))} matching queued jobs here ` +
          `against rows=${fmt(estimated(scanOf(rare)?.line))} for ${json("rare")}, and chose ` +
          "accordingly."
        : ""),
  );
  const genericWalks = [rareGeneric, commonGeneric].every(isWalk);
  const rareTiming = timing("rare");
  bullets.push(
    "- **Generic plans**, what a prepared statement settles on after five calls, are one " +
      "plan for every filter: here " +
      (genericWalks
        ? "both walk `_jobs_claim_idx`. For " +
          `${json("rare")} the walk read ${fmt(rowsRead(rareGeneric))} rows ` +
          `(${fmt(pickedBuffers(rareGeneric))} buffers) to find ${CLAIM_LIMIT}, Execution Time ` +
          `${execTime(rareGeneric)} ms against ${execTime(rare)} ms planned for the filter. `
        : `${access(rareGeneric)} for ${json("rare")} and ${access(commonGeneric)} for ` +
          `${json("common")}: Execution Time ${execTime(rareGeneric)} and ` +
          `${execTime(commonGeneric)} ms, against ${execTime(rare)} and ${execTime(common)} ms ` +
          "planned for each filter. ") +
      "That is why pgwake runs filtered claims unprepared, planned for every call's filter " +
      `(the timed runs of ${json("rare")}: p50 ${rareTiming ? ms(rareTiming.p50) : "?"}, ` +
      "planning included).",
  );
  const noneTiming = timing("none");
  const noneForcedIndex = bitmapIndex(noneForced);
  const absentIndex = bitmapIndex(absent);
  bullets.push(
    "- **Where it bends: a filter that matches nothing.** " +
      `${json("absent")} is on no job at all; the statistics know it is rare ` +
      `(estimated rows=${fmt(estimated(scanOf(absent)?.line))}), so the plan is a ` +
      `${access(absent)}: ${fmt(absentIndex?.hit)} buffers of the index, nothing to fetch, ` +
      `Execution Time ${execTime(absent)} ms. ${json("none")} matches no queued job either, ` +
      `but ${fmt(matches("none").finished)} finished ones. The statistics on \`attributes\` ` +
      "describe the whole table, mostly finished jobs, so the planner estimated " +
      `rows=${fmt(estimated(scanOf(none)?.line))} matching queued jobs and chose a ` +
      `${access(none)}, expecting to find ${CLAIM_LIMIT} within about ` +
      `${fmt(Math.round((queuedTotal / (estimated(scanOf(none)?.line) ?? NaN)) * CLAIM_LIMIT))} ` +
      "rows. " +
      (isWalk(none)
        ? "Nothing matched, so the scan read every queued job of the queue: " +
          `${fmt(rowsRead(none))} rows (Rows Removed by Filter), ${fmt(pickedBuffers(none))} ` +
          `buffers, Execution Time ${execTime(none)} ms; p50 ${ms(noneTiming?.p50 ?? NaN)} over ` +
          `${noneTiming?.runs ?? "?"} prepared runs. The walk reads the heap row of every queued ` +
          "job (the filter is on `attributes`, which the claim index does not hold), so this " +
          "cost grows with the backlog, not with the finished jobs. With `enable_indexscan = " +
          `off\` the GIN index answered in ${fmt(noneForcedIndex?.hit)} buffers ` +
          `(Execution Time ${execTime(noneForced)} ms). A consumer with such a filter finds ` +
          "nothing, waits for the queue's next wake-up and claims again, so while its filter " +
          "matches nothing every send to the queue costs it one walk of the whole backlog. The " +
          "same holds, in proportion, for a filter whose share among the queued jobs is far " +
          "below its share among the finished ones."
        : `In this run the plan was ${access(none)} (Execution Time ${execTime(none)} ms).`),
  );
  const pendingLimit = (
    f.settings.find(([name]) => name === "gin_pending_list_limit")?.[1] ?? "?"
  ).replace(/ \((\w+)\)$/, " $1");
  const absentTimed = planOf("filter-absent-timed");
  const absentTimedIndex = bitmapIndex(absentTimed);
  const timedRuns = FILTER_CASES.reduce((sum, c) => sum + c.runs, 0);
  if (absentIndex?.hit !== undefined && absentTimedIndex?.hit !== undefined) {
    bullets.push(
      "- **Between two vacuums.** The plans above were taken right after a `VACUUM` of the " +
        "table. GIN indexes are created with `fastupdate` on: a new entry goes to the index's " +
        "pending list, which every scan of the index reads in full until a vacuum (or " +
        "autovacuum's analyze) merges it into the index, or a write takes it past " +
        `\`gin_pending_list_limit\` (${pendingLimit}). ` +
        (withRunning
          ? "Running jobs are in this index, so a claim adds the running versions of the jobs " +
            "it takes (and a heartbeat those of the jobs it extends) to that list. "
          : "A claim adds nothing to this index (running jobs are not in it), but a send does. ") +
        (f.settings.find(([n]) => n === "autovacuum")?.[1] === "off"
          ? "(Autovacuum is off on this server, see “Setup”: only this script's `VACUUM`s ran.) "
          : "") +
        `After the ${fmt(timedRuns)} timed filtered claims under “Timings” (each rolled back, ` +
        `${CLAIM_LIMIT} jobs each when any matched), the Bitmap Index Scan of ` +
        `${json("absent")} read ${fmt(absentTimedIndex.hit)} buffers (Execution Time ` +
        `${execTime(absentTimed)} ms), against ${fmt(absentIndex.hit)} above. The later runs of ` +
        "each filter in “Timings” read a longer list than the first ones.",
    );
  }
  const freshScanNode = scanOf(fresh);
  bullets.push(
    `- **Before the first ANALYZE** (schema \`${FRESH_SCHEMA}\`, ${fmt(FRESH_QUEUED)} queued ` +
      "jobs with the same attributes, no statistics), the claim with " +
      `\`${filterJson(FRESH_FILTER)}\` ${isWalk(fresh) ? "walked" : "used"} ` +
      `${isWalk(fresh) ? "`_jobs_claim_idx`" : access(fresh)}: ${fmt(rowsRead(fresh))} rows ` +
      `read for ${fmt(freshScanNode?.rows)} claimed, ${fmt(pickedBuffers(fresh))} buffers, ` +
      `Execution Time ${execTime(fresh)} ms. ` +
      (isWalk(fresh)
        ? "Without statistics the planner prices containment with a default selectivity and " +
          "walks; it did not fetch and sort every match, the failure mode of the old (queue, " +
          "state) index described in that section."
        : ""),
  );
  p(...bullets);

  p("### cancelJobsWhere");
  const cancelScan = node(cancel, /Scan\b.* on _jobs\b/);
  const cancelIndex = bitmapIndex(cancel);
  const cancelTiming = timings.find((t) => t.label.startsWith("cancelJobsWhere"));
  const cancelSeq = /Seq Scan/.test(cancelScan?.line ?? "");
  const sameGeneric = shapeOf(cancelGeneric) === shapeOf(cancel);
  p(
    `\`cancelJobsWhere('emails', '${filterJson(CANCEL_FILTER)}')\` cancels ` +
      `${fmt(matches("cancel").unfinished)} jobs (queued, scheduled and running). ` +
      (cancelSeq
        ? "**Its plan is a Seq Scan of the whole table**: " +
          `${fmt(scanned(cancelScan))} rows read, buffers ` +
          `${cancelScan?.details.match(/Buffers: (shared [^\n]*)/)?.[1] ?? "?"}, Execution Time ` +
          `${execTime(cancel)} ms (generic: \`${shapeOf(cancelGeneric)}\`, ` +
          `${execTime(cancelGeneric)} ms); p50 ${ms(cancelTiming?.p50 ?? NaN)} over ` +
          `${cancelTiming?.runs ?? "?"} prepared runs. Its cost grows with the whole table, ` +
          "finished jobs included."
        : `Its custom plan is \`${shapeOf(cancel)}\`` +
          (cancelIndex
            ? `: the index returned ${fmt(cancelIndex.rows)} entries (${fmt(cancelIndex.hit)} ` +
              "buffers)" +
              ((cancelIndex.rows ?? 0) > (scanned(cancelScan) ?? 0)
                ? `, ${fmt((cancelIndex.rows ?? 0) - (scanned(cancelScan) ?? 0))} of them for ` +
                  "row versions no longer visible, which the heap scan skips (the running " +
                  "versions of the filtered claims explained above, rolled back: see “Between " +
                  "two vacuums”)"
                : "") +
              `, the heap scan read ${fmt(heapPages(cancelScan))} pages and kept ` +
              `${fmt(cancelScan?.rows)} rows`
            : "") +
          `, ${fmt(totalBuffers(cancel))} buffers for the whole statement (it also writes the ` +
          `new row versions and their index entries), Execution Time ${execTime(cancel)} ms, of ` +
          `which ${triggerTime(cancel)} ms in the \`_jobs_after_update\` trigger. ` +
          (sameGeneric
            ? "The generic plan has the same shape " +
              `(Execution Time ${execTime(cancelGeneric)} ms): \`attributes @> $2\` implies ` +
              "`attributes IS NOT NULL` whatever `$2` is, and the state list is the index's " +
              "own, so the index is usable without the parameter values. "
            : `The generic plan is \`${shapeOf(cancelGeneric)}\` ` +
              `(Execution Time ${execTime(cancelGeneric)} ms). `) +
          `Over ${cancelTiming?.runs ?? "?"} prepared runs: p50 ${ms(cancelTiming?.p50 ?? NaN)}, ` +
          `plan cache ${cancelTiming?.cache ?? "?"}. ` +
          (cancelIndex
            ? "It reads no finished job: its cost grows with the unfinished jobs that match the " +
              "filter, not with the table."
            : "")),
  );

  if (indexVariants.length < 2) return;
  const [before, after] = [indexVariants[0]!, indexVariants.at(-1)!];
  const planFor = (v: IndexVariant, what: string) => planOf(`index${v.version}-${what}`);
  const both = (label: string, fn: (v: IndexVariant) => string) =>
    `| ${label} | ${fn(before)} | ${fn(after)} |`;
  const cancelCell = (v: IndexVariant) => {
    const plan = planFor(v, "cancel");
    const scan = node(plan, /Scan\b.* on _jobs\b/);
    return (
      `\`${scan ? nodeName(scan.line) : "?"}\`: ${fmt(scanned(scan))} rows read, ` +
      `${fmt(bufferCount(scan?.details))} buffers, ${execTime(plan)} ms`
    );
  };
  const writeCell = (plan: string) => `${execTime(plan)} ms, ${fmt(totalBuffers(plan))} buffers`;
  const lookupIndex = (v: IndexVariant) => bitmapIndex(planFor(v, "absent-written"));
  p(`### Migration ${before.version}'s index and migration ${after.version}'s`);
  p(
    "Measured in one transaction that was rolled back, after the measurements above: the " +
      "loaded `_jobs_attributes_idx` dropped and built again in one pass as each migration " +
      "defines it, each in a savepoint that was rolled back before the next, so that both " +
      "start from the table as loaded (the loaded index, created empty by the migration and " +
      `filled by the inserts, is ${attributeIndexSizes.loaded ?? "?"}). With each: the cancel ` +
      "and the selective claim above; " +
      "then the writes of a working queue, kept until the savepoint's rollback: " +
      `\`claimJobs('emails', ${fmt(WRITE_CLAIMS)})\`, then \`heartbeatJobs\` of every running ` +
      `job (${fmt(after.heartbeats)}: those just claimed and those loaded running), then the ` +
      `claim with ${json("absent")}, a value on no job, whose Bitmap Index Scan reads the ` +
      "pending list those writes left (see “Between two vacuums” above). One run of each " +
      "statement; the plans are under “Plans”, except the heartbeat's, whose custom plan " +
      "prints its whole batch.",
  );
  p(
    `| \`_jobs_attributes_idx\` | migration ${before.version} | migration ${after.version} |`,
    "| --- | --- | --- |",
    both("predicate", (v) => `\`${v.predicate}\``),
    both("size, build time", (v) => `${v.size}, ${v.seconds.toFixed(1)} s`),
    both(`\`cancelJobsWhere\`, ${fmt(matches("cancel").unfinished)} jobs`, cancelCell),
    both(
      "selective claim: `picked` CTE, rows read, buffers, Execution Time",
      (v) =>
        `${access(planFor(v, "rare"))}, ${fmt(rowsRead(planFor(v, "rare")))} rows, ` +
        `${fmt(pickedBuffers(planFor(v, "rare")))} buffers, ${execTime(planFor(v, "rare"))} ms`,
    ),
    both(`\`claimJobs\` of ${fmt(WRITE_CLAIMS)} jobs`, (v) => writeCell(planFor(v, "claims"))),
    both(`\`heartbeatJobs\` of ${fmt(after.heartbeats)} jobs`, (v) =>
      writeCell(heartbeatPlans.get(v.version) ?? ""),
    ),
    both(
      `then ${json("absent")}: Bitmap Index Scan`,
      (v) =>
        `${fmt(lookupIndex(v)?.hit)} buffers, ${actualTime(lookupIndex(v)?.line) ?? "?"} ms ` +
        `(Execution Time ${execTime(planFor(v, "absent-written"))} ms)`,
    ),
  );
  const heartbeat = (v: IndexVariant) => heartbeatPlans.get(v.version) ?? "";
  p(
    `With migration ${after.version}'s definition the cancel ` +
      (/Bitmap/.test(shapeOf(planFor(after, "cancel"))) &&
      /Seq Scan/.test(shapeOf(planFor(before, "cancel")))
        ? "reads only the matching unfinished jobs instead of the whole table " +
          `(${execTime(planFor(after, "cancel"))} ms against ` +
          `${execTime(planFor(before, "cancel"))} ms). `
        : `is \`${shapeOf(planFor(after, "cancel"))}\`, against ` +
          `\`${shapeOf(planFor(before, "cancel"))}\`. `) +
      `The selective claim fetched ${fmt(rowsRead(planFor(after, "rare")))} rows against ` +
      `${fmt(rowsRead(planFor(before, "rare")))} (the difference: matching jobs that are ` +
      "scheduled or waiting, which its Filter drops), " +
      `${fmt(pickedBuffers(planFor(after, "rare")))} buffers against ` +
      `${fmt(pickedBuffers(planFor(before, "rare")))}. ` +
      "Running jobs are in neither index, so a claim and a heartbeat add no entry to it (a " +
      "heartbeat is never a HOT update: `lease_expires_at` is a key of `_jobs_running_idx`, so an " +
      "index holding running jobs would gain an entry per beat). " +
      `The claim of ${fmt(WRITE_CLAIMS)} jobs took ${writeCell(planFor(after, "claims"))} ` +
      `against ${writeCell(planFor(before, "claims"))}; the heartbeat of ` +
      `${fmt(after.heartbeats)} jobs ${writeCell(heartbeat(after))} against ` +
      `${writeCell(heartbeat(before))}. After them the lookup of a value on no job read ` +
      `${fmt(lookupIndex(after)?.hit)} buffers of the index against ` +
      `${fmt(lookupIndex(before)?.hit)}: the new entries wait in the pending list, which every ` +
      "filtered claim that takes the bitmap path and every cancel by filter reads in full.",
  );
}

/** The Concerns about filters (see “Filtered claims”), as bullets. */
function filterConcerns(): string[] {
  const out: string[] = [];
  const none = planOf("filter-none");
  const noneForced = planOf("filter-none-forced");
  const noneCase = FILTER_CASES.find((c) => c.key === "none")!;
  const noneTiming = timings.find((t) =>
    t.label.endsWith(`filter \`${filterJson(noneCase.filter)}\``),
  );
  if (/Index Scan using _jobs_claim_idx/.test(pickedShape(none))) {
    out.push(
      `- **A filter that matches no queued job can walk the whole backlog.** The claim with ` +
        `\`${filterJson(noneCase.filter)}\` (no queued job, ${fmt(filterMatches.get("none")?.finished)} ` +
        `finished ones) read ${fmt(rowsRead(none))} queued jobs and ${fmt(pickedBuffers(none))} ` +
        `buffers to claim nothing (Execution Time ${execTime(none)} ms, p50 ` +
        `${ms(noneTiming?.p50 ?? NaN)}), where the GIN index answers in ` +
        `${fmt(pickedBuffers(noneForced))} buffers (${execTime(noneForced)} ms). The planner ` +
        "estimates a filter's matches from statistics over the whole table, mostly finished " +
        "jobs, and walks when it believes matches are common; an idle consumer with such a " +
        "filter repeats the walk at every wake-up of its queue. Options, none measured here: " +
        "let a consumer whose filtered claim came back empty wait a little before claiming " +
        "again on the next wake-up (coalescing them); give such a partition of the work its " +
        "own queue instead of a filter; or claim with a filter in two steps, a bounded walk " +
        "of the claim index first (the first few hundred queued jobs in claim order, filtered) " +
        "and the GIN bitmap only when that finds fewer than the limit.",
    );
  }
  const cancel = planOf("cancel");
  if (/Seq Scan on _jobs/.test(cancel)) {
    const cancelTiming = timings.find((t) => t.label.startsWith("cancelJobsWhere"));
    out.push(
      "- **`cancel({ filter })` reads the whole jobs table.** `cancelJobsWhere` is a Seq Scan " +
        `of all ${fmt(scanned(node(cancel, /Seq Scan on _jobs/)))} rows (Execution Time ` +
        `${execTime(cancel)} ms, p50 ${ms(cancelTiming?.p50 ?? NaN)}) to cancel ` +
        `${fmt(filterMatches.get("cancel")?.unfinished)} jobs: it grows with the finished jobs ` +
        "kept. See its plans, and the definition of `_jobs_attributes_idx` under “Setup”.",
    );
  }
  const before = indexVariants[0];
  const after = indexVariants.at(-1);
  if (before && after && before !== after && /'running'/.test(after.predicate)) {
    const lookup = (v: IndexVariant) =>
      bitmapIndex(planOf(`index${v.version}-absent-written`))?.hit;
    const heartbeat = (v: IndexVariant) => heartbeatPlans.get(v.version) ?? "";
    const claims = (v: IndexVariant) => planOf(`index${v.version}-claims`);
    out.push(
      `- **Since migration ${after.version}, claims and heartbeats write to ` +
        "`_jobs_attributes_idx`.** It holds running jobs (so that `cancel({ filter })` can use " +
        "it), and therefore every claim and every heartbeat of a job with attributes adds an " +
        "entry to it. " +
        `Measured above (both definitions built in one pass, rolled back): a heartbeat of ` +
        `${fmt(after.heartbeats)} jobs took ${execTime(heartbeat(after))} ms against ` +
        `${execTime(heartbeat(before))} ms with migration ${before.version}'s index, a claim of ` +
        `${fmt(WRITE_CLAIMS)} jobs ${execTime(claims(after))} ms against ` +
        `${execTime(claims(before))} ms (single runs), and after them the lookup of a value on ` +
        `no job read ${fmt(lookup(after))} buffers of the index against ${fmt(lookup(before))}. ` +
        "The new entries wait in the GIN pending list, which every bitmap scan of the index " +
        "(filtered claims that take that path, cancels by filter) reads in full until a vacuum " +
        "or autovacuum's analyze merges it; the write that takes it past " +
        "`gin_pending_list_limit` merges it itself, inside a claim or a heartbeat. Options, not " +
        "measured by this script: build the index with `fastupdate = off` (each write then " +
        "updates the index itself and scans read no list); or leave running jobs out of it " +
        "(`state in ('waiting', 'scheduled', 'queued')`) and let `cancelJobsWhere` find its " +
        "running jobs through `_jobs_running_idx`, as in `and (state in ('waiting', " +
        "'scheduled', 'queued') or (state = 'running' and queue = $1))`, which the planner can " +
        "serve with a BitmapOr of the two indexes (the running part reads every running job " +
        "of the queue).",
    );
  }
  return out;
}

function report(f: Facts, other?: Summary): string {
  const claim = planOf("claim");
  const generic = planOf("claim-generic");
  const tick = planOf("tick");
  const stats = planOf("stats");
  const statsNoSeq = planOf("stats-noseq");
  const statsGeneric = planOf("stats-generic");
  const churnStats = planOf("churn-stats");
  const churn1 = planOf("churn-1");
  const churn2 = planOf("churn-2");
  const vacuumed = planOf("vacuumed");
  const claimScan = node(claim, /Index Scan using _jobs_claim_idx/);
  const genericScan = node(generic, /Index Scan using _jobs_claim_idx/);
  const claimLimit = node(claim, /->\s+Limit /);
  const claimLock = node(claim, /->\s+LockRows /);
  const claimSort = node(claim, /^Sort /);
  const claimPkey = node(claim, /Index Scan using _jobs_pkey/);
  const claimQueues = node(claim, /on _queues\b/);
  const churnScan = [churn1, churn2, vacuumed].map((p) => node(p, /using _jobs_claim_idx/));
  const claimTiming = timings[0]!;
  const statsTiming = timings.find((t) => t.label === "queueStats")!;
  const churnTiming = timings.find((t) => t.label.endsWith("after churn"))!;
  const vacuumTiming = timings.find((t) => t.label.endsWith("after VACUUM"))!;
  const fresh = freshRun(false);
  const old = freshRun(true);
  const freshPlan = planOf(fresh.planKey);
  const freshGeneric = planOf(`${fresh.planKey}-generic`);
  const oldPlan = planOf(old.planKey);
  const oldGeneric = planOf(`${old.planKey}-generic`);
  const byState = new Map<string, number>();
  for (const [, state, n] of f.counts) byState.set(state, (byState.get(state) ?? 0) + n);
  const finished =
    (byState.get("completed") ?? 0) +
    (byState.get("failed") ?? 0) +
    (byState.get("cancelled") ?? 0);
  const seqScanTables = [
    ...new Set(
      plans.flatMap((plan) => [...plan.text.matchAll(/Seq Scan on (\w+)/g)].map((m) => m[1]!)),
    ),
  ];
  const seqScans = plans.filter((p) => /Seq Scan on _jobs\b/.test(p.text)).map((p) => p.title);
  const filterRemoved = plans
    .filter((plan) => !isFilteredPlan(plan.key))
    .some((plan) =>
      node(plan.text, /using _jobs_claim_idx/)?.details.includes("Rows Removed by Filter"),
    );
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  const local = isLocal();
  const definition = new Map(
    f.indexes.map(([name, def]) => [name, def.replaceAll(`${SCHEMA}.`, "")] as const),
  );

  const out: string[] = [];
  const p = (...lines: string[]) => out.push(...lines, "");

  p("# Claiming with a large jobs table");
  p(
    `Generated by \`bench/explain-claim.ts\` (\`node --import tsx bench/explain-claim.ts\`) on ` +
      `${new Date().toISOString().slice(0, 10)}; the whole run took ${f.minutes.toFixed(1)} minutes. ` +
      "Re-running it overwrites this file. All numbers below come from one run on one machine: " +
      "they show plan shapes and orders of magnitude, not a throughput benchmark." +
      (other
        ? ` The one exception is the last section before the plans, which compares this run ` +
          `with a second run of the script against ${shortVersion(other.version)}.`
        : ""),
  );

  p("## Setup");
  p(
    `- Machine: \`nproc\` = ${nproc()}, ${cpu}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM` +
      (local ? " (the database runs on the same machine as the script)." : "."),
    `- PostgreSQL: \`${f.version}\``,
    `- Settings: ${f.settings.map(([name, value]) => `\`${name}\` = ${value}`).join(", ")}.`,
    `- Schema \`${SCHEMA}\`, migrated with \`migrate()\`; queues \`emails\` and \`other\`. Jobs ` +
      "loaded with `insert … select … from generate_series(…)` (ids from the schema's " +
      "`uuid_v7()`), then `VACUUM ANALYZE`. The section “Before the first ANALYZE” uses two " +
      `other, small schemas (\`${FRESH_SCHEMA}\`, \`${OLD_SCHEMA}\`), measured before this load.`,
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
    "The jobs of `emails` carry `attributes` (those of `other` have none): a `region`, and a " +
      "`tenant`. Tenant `t0` is a large customer that owns about a tenth of the finished jobs " +
      "and has nothing in the backlog (its jobs are all done at the moment measured); every " +
      `other job belongs to one of \`t1\` … \`t${TENANTS - 1}\`. Both come from hashes of the ` +
      "row number, so they are spread evenly over priorities and `run_at`. Only filtered " +
      "claims and `cancelJobsWhere` select by `attributes`; for the other statements they " +
      `make rows wider (${f.attributeBytes} of attributes in all)` +
      (/'running'/.test(definition.get("_jobs_attributes_idx") ?? "")
        ? ", and the claims and heartbeats of jobs that have them add entries to " +
          "`_jobs_attributes_idx` (see “Between two vacuums”). "
        : ". ") +
      "When the filtered claims " +
      "were added to this document, a run of the script with every `attributes` null gave " +
      "the same plan shapes for every unfiltered statement " +
      (/Index Only Scan/.test(finishedScan("churn-stats"))
        ? "except one: the finished branch of `queueStats` after the churn step was a Parallel " +
          "Seq Scan there, where in this run it is an index-only scan (a choice close in cost " +
          "that the wider table tips; see “queueStats”)."
        : "as this run."),
  );
  p(
    "| jobs of `emails` | rows | region `eu` | region `us` | region `ap` | tenant `t0` | tenants |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...f.attributeMix.map(([state, ...n]) => `| ${state} | ${n.map((x) => fmt(x)).join(" | ")} |`),
  );
  p("Relations after loading (index definitions from `pg_indexes`, schema prefix left out):");
  p(
    "| relation | size | definition |",
    "| --- | ---: | --- |",
    ...f.sizes.map(
      ([name, size, kind]) =>
        `| \`${name}\`${kind === "r" ? " (table)" : ""} | ${size} | ` +
        `${definition.has(name) ? `\`${definition.get(name)!}\`` : ""} |`,
    ),
  );

  p("## Why the claim does not read finished jobs");
  const others = f.indexes.filter(([name]) => name !== "_jobs_claim_idx" && name !== "_jobs_pkey");
  const unfiltered = others.filter(([, def]) => !/ WHERE /.test(def));
  const queuedToo = others.filter(([, def]) => / WHERE /.test(def) && def.includes("'queued'"));
  const guards = (def: string) => [...def.matchAll(/\((\w+) IS NOT NULL\)/g)].map((m) => m[1]!);
  const guarded = queuedToo.filter(([, def]) => guards(def).length > 0);
  const unguarded = queuedToo.filter(([, def]) => guards(def).length === 0);
  p(
    "`claimJobs` picks its jobs with `where state = 'queued' and queue = $1 order by priority " +
      "desc, run_at, id limit $2 for update skip locked` (with a filter, also `attributes @> " +
      "$4`: see “Filtered claims”; this section is about claims without one). The migration " +
      "creates " +
      "`_jobs_claim_idx on _jobs (queue, priority desc, run_at, id) where state = 'queued'`: a " +
      "partial index whose predicate is the claim's own `state = 'queued'` condition and whose " +
      "key order is the claim's `order by`. Finished, scheduled and running jobs have no entry in " +
      `it: after loading it held about ${fmt(f.claimIndexEntries)} entries (\`pg_class.reltuples\`) ` +
      `for ${fmt(f.total)} rows, ${fmt(finished)} of them finished. ` +
      (unfiltered.length === 0 && unguarded.length === 0
        ? "Apart from the primary key, every other index on `_jobs` is partial (definitions " +
          "above). " +
          (guarded.length === 0
            ? "None has entries for queued jobs, so `_jobs_claim_idx` is the only index with " +
              "entries for queued jobs."
            : "Those with entries for queued jobs also require a column to be non-null: " +
              `${guarded
                .map(
                  ([name, def]) =>
                    `\`${name}\` (${guards(def)
                      .map((c) => `\`${c} IS NOT NULL\``)
                      .join(", ")})`,
                )
                .join(", ")}. ` +
              "The unfiltered claim has no condition on those columns, so its conditions do " +
              "not imply these predicates and the planner cannot use these indexes for it: " +
              "`_jobs_claim_idx` is the only index that can serve the unfiltered claim. (A " +
              "filter's `attributes @> …` does imply `attributes IS NOT NULL`: see “Filtered " +
              "claims”.)")
        : "**Other indexes also have entries for queued jobs, with no other condition**: " +
          `${[...unfiltered, ...unguarded].map(([name]) => `\`${name}\``).join(", ")}.`),
  );
  p(
    "An unfiltered claim is one call, `select … from _claim($1, $2, $3)` (migration 0009): its " +
      "own plan is a Function Scan, and the statements inside the function (the queue's lease, " +
      "the pick in `_claim_pick`, the update) are planned once per connection " +
      "(`plan_cache_mode = force_generic_plan`) with seq scans and bitmap scans ruled out. Their " +
      "plans, as auto_explain reports them, follow each claim's plan under “Plans”. What they " +
      "show:",
  );
  const bullets: string[] = [];
  if (claimScan) {
    bullets.push(
      `- The pick is \`${pickedShape(claim)}\` with ` +
        `\`${claimScan.details.match(/Index Cond: [^\n]*/)?.[0] ?? "?"}\`. ` +
        (pickedScan(claim).sort
          ? "**There is a Sort under the Limit**: see the plan below. "
          : "There is no Sort under the Limit: the index already returns rows in claim order, " +
            "so ") +
        `the scan stopped after ${fmt(claimScan.rows)} ` +
        `rows and read ${fmt(claimScan.hit)} buffers` +
        (claimLock ? ` (${fmt(claimLock.hit)} including the row locks taken by LockRows)` : "") +
        `; the Limit was done at actual time ${actualTime(claimLimit?.line) ?? "?"} ms.`,
      "- The index scan also prints `Filter: (state = 'queued'::…job_state)`, the index " +
        "predicate repeated. PostgreSQL drops quals implied by a partial index's predicate only " +
        "for plain SELECTs; for a relation locked with FOR UPDATE it keeps them so that rows " +
        "re-fetched after a concurrent update are checked again (EvalPlanQual). " +
        (filterRemoved
          ? "In at least one plan of an unfiltered claim below the filter did remove rows (see " +
            "`Rows Removed by Filter`)."
          : "No plan of an unfiltered claim below prints `Rows Removed by Filter` under it " +
            "(EXPLAIN omits the line when the count is zero): the filter removed nothing. (In " +
            "the filtered claims of “Filtered claims” it is the attribute filter that removes " +
            "rows.)"),
    );
  } else {
    bullets.push("- **The claim did not use `_jobs_claim_idx` in this run**: see the plan below.");
  }
  if (claimPkey) {
    bullets.push(
      `- The update finds the picked rows again through \`_jobs_pkey\`, in one Index Scan ` +
        `(\`${claimPkey.details.match(/Index Cond: [^\n]*/)?.[0] ?? "?"}\`, ` +
        `${fmt(claimPkey.rows)} rows); the queue's lease comes from its own statement, ` +
        (claimQueues
          ? /Seq Scan/.test(claimQueues.line)
            ? "a Seq Scan of the two-row, one-page `_queues`."
            : `\`${nodeName(claimQueues.line)}\`.`
          : "(not found in the plan)."),
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
  );
  if (genericScan) {
    bullets.push(
      "- The top-level statement has nothing left to plan: its custom and generic plans are the " +
        `same Function Scan (estimated total cost ${costOf(claim)} and ${costOf(generic)}), ` +
        "and over the timed runs below `pg_prepared_statements` counted " +
        `${claimTiming.cache} plans for it. The statements inside are generic in both runs ` +
        "(`queue = $1`, not the queue's name): with the limit unknown, the pick's plan expects " +
        `rows=${genericScan.line.match(/rows=(\d+) width/)?.[1] ?? "?"} under the Limit, and ` +
        `its scan still stopped after ${fmt(genericScan.rows)} rows.`,
    );
  }
  p(...bullets);
  p(
    `\`tickQueue\` reads \`_jobs\` through ${jobScans(tick).join(", ")}; ` +
      `Execution Time ${execTime(tick)} ms. \`jobOutcomes\` with 100 ids is one ` +
      `${jobScans(planOf("outcomes")).join(", ")} (Execution Time ${execTime(planOf("outcomes"))} ms). ` +
      (seqScans.length === 0
        ? "No plan in this document has a Seq Scan on `_jobs`; Seq Scans appear only on " +
          `${seqScanTables.map((name) => `\`${name}\``).join(", ")}.`
        : `Seq Scans on \`_jobs\` appear only in: ${seqScans.join("; ")} (see the sections ` +
          "on these statements below)."),
  );

  // -------------------------------------------------------------------------------------------
  p("## Filtered claims");
  filteredClaims(p, f);

  // -------------------------------------------------------------------------------------------
  p("## Before the first ANALYZE");
  const freshScan = pickedScan(freshPlan);
  const oldScan = pickedScan(oldPlan);
  const reltuplesText = (run: FreshRun) =>
    run.reltuples[0] === run.reltuples[1]
      ? `${run.reltuples[0]} before the EXPLAIN and still ${run.reltuples[1]} after the timed runs`
      : `${run.reltuples[0]} before the EXPLAIN and ${run.reltuples[1]} after the timed runs`;
  p(
    "Until a table is first analyzed (by autovacuum or by hand), `pg_class.reltuples` is -1 " +
      "and `pg_stats` has no rows for it. A queue that receives a bulk load and is drained " +
      "at once runs its claims in that window. Measured in a separate schema " +
      `\`${fresh.schema}\`: migrated, autovacuum turned off for its \`_jobs\` ` +
      "(`alter table … set (autovacuum_enabled = false)`, so that no autoanalyze could run " +
      `during the measurement), then ${fmt(FRESH_QUEUED)} queued jobs in \`emails\` inserted ` +
      "with one `insert … select … from generate_series(…)` (priorities 0 to 5, `run_at` over " +
      "the past hour, attributes as in `emails` of the large schema), and no ANALYZE. " +
      `\`select reltuples from pg_class where oid = '${fresh.schema}._jobs'::regclass\` ` +
      `returned ${reltuplesText(fresh)}; \`pg_stats\` had ${fresh.statistics} rows for the ` +
      `table, which had ${fmt(fresh.pages)} pages.`,
  );
  p(
    `- The claim's pick is \`${pickedShape(freshPlan)}\`` +
      (freshScan.sort
        ? `, **with a Sort** (${fmt(freshScan.sort.rows)} rows out): see the plan.`
        : freshScan.scan && /_jobs_claim_idx/.test(freshScan.scan.line)
          ? `, with no Sort: the scan of \`_jobs_claim_idx\` returned jobs in claim order and ` +
            `stopped after ${fmt(freshScan.scan.rows)} rows, ${fmt(freshScan.scan.hit)} ` +
            "buffers. The planner's estimate for the whole index scan was " +
            `rows=${fmt(estimated(freshScan.scan.line))} (there were ${fmt(FRESH_QUEUED)}).`
          : ": see the plan."),
    `- Execution Time ${execTime(freshPlan)} ms, Planning Time ${planningTime(freshPlan)} ms. ` +
      `Timed like the statements under “Timings” (prepared, ${fresh.timing.runs} runs, each ` +
      `rolled back): p50 ${ms(fresh.timing.p50)}, p95 ${ms(fresh.timing.p95)}, max ` +
      `${ms(fresh.timing.max)} (plan cache: ${fresh.timing.cache}).`,
    `- The generic plan's pick is \`${pickedShape(freshGeneric)}\` ` +
      `(Execution Time ${execTime(freshGeneric)} ms, estimated total cost ${costOf(freshGeneric)} ` +
      `against ${costOf(freshPlan)} for the custom plan). ` +
      (/^[1-9]/.test(fresh.timing.cache)
        ? "Without statistics the generic plan looks as cheap as the custom ones, so the " +
          "prepared claim switched to it after five runs: it is the plan that drained this " +
          "queue in the timed runs."
        : "The prepared claim kept custom plans in the timed runs."),
  );
  const slower = (execTime(oldPlan) / execTime(freshPlan)).toFixed(0);
  p(
    `For comparison, the same in \`${old.schema}\`, where this script created the index of ` +
      "earlier migrations, `_jobs_queue_state_idx on _jobs (queue, state)` (on all jobs), " +
      "after the migration and before the insert; `reltuples` " +
      `${reltuplesText(old)}, ${old.statistics} rows in \`pg_stats\`. The pick is ` +
      `\`${pickedShape(oldPlan)}\`` +
      (oldScan.sort
        ? `: the scan returned all ${fmt(oldScan.scan?.rows)} queued jobs of the queue ` +
          `(estimated: rows=${fmt(estimated(oldScan.scan?.line))}), and the Sort ordered them ` +
          `(\`${oldScan.sort.details.match(/Sort Method: [^\n]*/)?.[0]?.trim() ?? "?"}\`) to ` +
          `keep ${CLAIM_LIMIT}. Execution Time ${execTime(oldPlan)} ms, about ${slower} times ` +
          `the claim above; p50 ${ms(old.timing.p50)} over ${old.timing.runs} timed runs ` +
          `(plan cache: ${old.timing.cache}; the generic plan's pick is ` +
          `\`${pickedShape(oldGeneric)}\`).`
        : `: in this run the planner did not sort the queued jobs even with that index ` +
          `(Execution Time ${execTime(oldPlan)} ms, p50 ${ms(old.timing.p50)}).`),
  );
  p(
    "Why this matters. Without statistics the planner knows the table's size (from its pages) " +
      "but not how its values are distributed, so it prices `queue = 'emails'` and " +
      "`state = 'queued'` with default selectivities and expects only a few of the rows to " +
      `match (rows=${fmt(estimated(oldScan.scan?.line ?? freshScan.scan?.line))} above, where ` +
      `all ${fmt(FRESH_QUEUED)} did). ` +
      "For a few rows, fetching every match through an index on (queue, state) and sorting " +
      "them looks no dearer than walking an index in claim order, and " +
      (oldScan.sort
        ? "that is what the planner chose when the index existed: "
        : "with that index the planner could choose it: ") +
      "each claim then reads and sorts every queued job of the queue, so its cost grows with " +
      "the backlog instead of with the claim's limit, at the moment the backlog is largest. " +
      "Autovacuum's ANALYZE corrects the estimates only once the table passes its threshold " +
      "and a worker reaches it. The migration therefore no longer has an index on " +
      "(queue, state): `_jobs_finished_idx` is partial on finished states, so " +
      "`_jobs_claim_idx` is the only index the unfiltered claim can use (see “Why the claim " +
      "does not read finished jobs”), and " +
      (freshScan.sort
        ? "yet in this run the claim still sorted (see the plan)."
        : "without statistics, as with them, the claim walks it in order and stops after " +
          `${CLAIM_LIMIT} jobs.`),
  );

  // -------------------------------------------------------------------------------------------
  p("## queueStats");
  const variants: Array<[string, string]> = [
    ["custom", "stats"],
    ["custom, `enable_seqscan = off`", "stats-noseq"],
    ["generic", "stats-generic"],
    ["custom, after the churn step", "churn-stats"],
  ];
  const branchesOf = new Map(variants.map(([, key]) => [key, appendBranches(planOf(key))]));
  p(
    "`queueStats` is a UNION ALL of counts for one queue: queued, waiting, scheduled and " +
      "running jobs, each meant to be counted in the partial index of its state, and finished jobs " +
      "grouped by state, meant to be counted in `_jobs_finished_idx`. What each branch did for " +
      "`queueStats('emails')` in the plans below (rows: actual rows of the scan, all workers; " +
      "buffers: the branch's; time: the branch's actual total time):",
  );
  p(
    "| plan | branch | scan of `_jobs` | rows | Heap Fetches | buffers | ms |",
    "| --- | --- | --- | ---: | ---: | --- | ---: |",
    ...variants.flatMap(([label, key]) => [
      ...branchesOf
        .get(key)!
        .map(
          (b) =>
            `| ${label} | ${b.label} | ${b.scan} | ${fmt(b.rows)} | ` +
            `${b.heapFetches === undefined ? "" : fmt(b.heapFetches)} | ${b.buffers} | ${b.ms ?? "?"} |`,
        ),
      `| ${label} | **Execution Time** | | | | | **${execTime(planOf(key))}** |`,
    ]),
  );
  const parallelAppend = variants.filter(([, key]) => /Parallel Append/.test(planOf(key)));
  if (parallelAppend.length > 0) {
    p(
      `In ${parallelAppend.map(([label]) => `the ${label} plan`).join(" and ")}, the branches sit ` +
        "under a `Gather → Parallel Append` and run at the same time in different processes, so " +
        "their times overlap instead of adding up to the Execution Time.",
    );
  }
  const statsBranches = branchesOf.get("stats")!;
  const active = statsBranches.filter((b) => b.label !== "finished");
  const finishedOf = (key: string) => branchesOf.get(key)!.find((b) => b.label === "finished");
  const fin = finishedOf("stats");
  const finNoSeq = finishedOf("stats-noseq");
  const finGeneric = finishedOf("stats-generic");
  const indexOnly = (b: Branch | undefined) => !!b && /Index Only Scan/.test(b.scan);
  const statsBullets: string[] = [];
  statsBullets.push(
    active.every(indexOnly)
      ? `- The ${active
          .map((b) => b.label)
          .join(", ")
          .replace(/, ([^,]*)$/, " and $1")} counts are index-only scans of ` +
          `${active.map((b) => `\`${b.scan.replace(/^.* using /, "")}\``).join(", ")}, ` +
          `${active.map((b) => `${fmt(b.rows)} rows in ${b.ms} ms`).join(", ")}: each reads ` +
          "only the entries of its own state, so it costs in proportion to the jobs in that " +
          "state (the queued count walks the whole backlog)."
      : `- **Not every active-state count is an index-only scan of its own index**: ` +
          `${active.map((b) => `${b.label}: \`${b.scan}\``).join("; ")}.`,
  );
  if (fin) {
    const finIsIndex = /_jobs_finished_idx/.test(fin.scan);
    statsBullets.push(
      finIsIndex
        ? `- The finished count is \`${fin.scan}\`: ${fmt(fin.rows)} rows (every finished job ` +
            `of the queue) in ${fin.ms} ms of the plan's ${execTime(stats)} ms.`
        : `- **In the custom plan the finished count does not read \`_jobs_finished_idx\`**: ` +
            `it is \`${fin.scan}\` of the whole table (${fmt(fin.rows)} finished rows kept, ` +
            `buffers ${fin.buffers}), estimated cost ${fin.estimatedCost ?? "?"}, in ` +
            `${fin.ms} ms of the plan's ${execTime(stats)} ms. ` +
            (finNoSeq && /_jobs_finished_idx/.test(finNoSeq.scan)
              ? `With \`enable_seqscan = off\` the same branch is \`${finNoSeq.scan}\` ` +
                `(Heap Fetches ${fmt(finNoSeq.heapFetches)}), estimated cost ` +
                `${finNoSeq.estimatedCost ?? "?"}, in ${finNoSeq.ms} ms. ` +
                ((finNoSeq.estimatedCost ?? 0) > (fin.estimatedCost ?? 0)
                  ? "The planner's choice follows its cost model (the index path was " +
                    "estimated dearer, with `random_page_cost` = " +
                    `${f.settings.find(([n]) => n === "random_page_cost")?.[1] ?? "?"} pricing ` +
                    "index pages as random reads); "
                  : "") +
                (finNoSeq.ms === undefined || fin.ms === undefined
                  ? ""
                  : finNoSeq.ms < fin.ms * 0.9
                    ? "here the index-only scan was the faster of the two. "
                    : finNoSeq.ms > fin.ms * 1.1
                      ? "here the index-only scan was also the slower one. "
                      : "here the two took about as long (within 10%). ")
              : "") +
            "The statement's comment in `sql/queries/job.sql` (“Each count reads its own " +
            "partial index”) therefore does not hold for this custom plan.",
    );
  }
  if (finGeneric) {
    statsBullets.push(
      `- The generic plan's finished count is \`${finGeneric.scan}\` (${finGeneric.ms} ms; ` +
        `Execution Time ${execTime(statsGeneric)} ms). A prepared \`queueStats\` uses custom ` +
        "plans for its first five runs and then, if the generic plan does not look costlier, " +
        `the generic one: over the ${statsTiming.runs} timed runs below the plan cache counted ` +
        `${statsTiming.cache} plans, p50 ${ms(statsTiming.p50)}.`,
    );
  }
  const churnBranches = branchesOf.get("churn-stats")!;
  statsBullets.push(
    "- Index-only scans also depend on the visibility map. After the churn step below " +
      `(${fmt(CHURN)} claims committed, no vacuum) the index-only branches made Heap Fetches ` +
      `${churnBranches
        .filter((b) => b.heapFetches !== undefined)
        .map((b) => `${fmt(b.heapFetches)} (${b.label})`)
        .join(", ")}, ` +
      `Execution Time ${execTime(churnStats)} ms: pages holding active jobs lose their ` +
      "all-visible bit whenever a job on them changes, until vacuum sets it again.",
  );
  p(...statsBullets);

  // -------------------------------------------------------------------------------------------
  p("## Timings");
  p(
    "Each statement ran on one connection as pgwake runs it: as a named prepared statement, " +
      "except the filtered claims, which pgwake runs unprepared (plan cache: per call), " +
      "each run in its own transaction that was rolled back. The time is the statement's round " +
      "trip measured in Node, without BEGIN and ROLLBACK. Rolled-back claims leave the queue as " +
      "it was, so every run claims the same ten jobs. The plan cache column is the change in " +
      "`pg_prepared_statements.generic_plans` / `custom_plans` over the runs. The tails (p95, " +
      `max) include scheduling noise on a ${nproc()}-CPU machine and are not analysed here. ` +
      "The before-ANALYZE timings are in their own section above.",
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
    `- **\`queueStats\` still reads every finished job of the queue.** Its finished branch ` +
      `counted ${fmt(fin?.rows)} rows in ${fin?.ms ?? "?"} of ${execTime(stats)} ms (custom ` +
      `plan; p50 ${ms(statsTiming.p50)} over ${statsTiming.runs} prepared runs), so its cost ` +
      "grows with the number of finished jobs kept. " +
      (queriesDelete()
        ? "A statement in `sql/queries/` deletes finished jobs past their queue's " +
          "`retention_ms` (7 days unless set), so the job rate times the retention bounds that " +
          "number (this data set's finished jobs span one week); how the deletes themselves " +
          "behave is not measured here. Recommendation: keep `stats()` off hot paths, and " +
          "retention short, for queues that finish millions of jobs in a retention period."
        : "`_queues.retention_ms` exists, but no statement in `sql/queries/` deletes finished " +
          "jobs yet, so nothing bounds that number today. Recommendation: implement retention " +
          "(delete finished jobs past `retention_ms`, in batches), and keep `stats()` off hot " +
          "paths if queues are expected to keep millions of finished rows."),
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
    ...filterConcerns(),
  );

  if (other) {
    const mine = summary(f.version, f.settings);
    const a = shortVersion(mine.version);
    const b = shortVersion(other.version);
    p(`## Second run: ${b}`);
    p(
      `**Not from this run.** The script was also run against \`${other.version}\`` +
        (other.local ? " on the same machine" : "") +
        " and wrote its key numbers as JSON (`EXPLAIN_SUMMARY`); this run read them " +
        "(`EXPLAIN_COMPARE`) to build the table below. Same data, statements and steps; " +
        (other.settings === mine.settings
          ? "the same settings as listed under Setup. "
          : `that run's settings: ${other.settings}. `) +
        "Compare plan shapes and orders of magnitude only: one run each, on a small shared " +
        "machine.",
    );
    const row = (label: string, x: string, y: string) => `| ${label} | ${x} | ${y} |`;
    p(
      `| | ${a} (this run) | ${b} (second run) |`,
      "| --- | --- | --- |",
      row("claim: pick", `\`${mine.claimPicked}\``, `\`${other.claimPicked}\``),
      row("claim: Execution Time", `${mine.claimExec} ms`, `${other.claimExec} ms`),
      row(
        "claim: p50 / p95",
        `${ms(mine.claimP50)} / ${ms(mine.claimP95)}`,
        `${ms(other.claimP50)} / ${ms(other.claimP95)}`,
      ),
      row("before ANALYZE: pick", `\`${mine.freshPicked}\``, `\`${other.freshPicked}\``),
      row(
        "before ANALYZE: pick, generic plan",
        `\`${mine.freshGenericPicked}\``,
        `\`${other.freshGenericPicked}\``,
      ),
      row(
        "before ANALYZE: Execution Time / p50",
        `${mine.freshExec} ms / ${ms(mine.freshP50)}`,
        `${other.freshExec} ms / ${ms(other.freshP50)}`,
      ),
      row(
        "before ANALYZE, old (queue, state) index: pick",
        `\`${mine.oldPicked}\``,
        `\`${other.oldPicked}\``,
      ),
      row(
        "before ANALYZE, old index: Execution Time / p50",
        `${mine.oldExec} ms / ${ms(mine.oldP50)}`,
        `${other.oldExec} ms / ${ms(other.oldP50)}`,
      ),
      row("queueStats custom: finished branch", `${mine.statsFinished}`, `${other.statsFinished}`),
      row(
        "queueStats generic: finished branch",
        `${mine.statsGenericFinished}`,
        `${other.statsGenericFinished}`,
      ),
      row(
        "queueStats custom: Execution Time / p50 (prepared)",
        `${mine.statsExec} ms / ${ms(mine.statsP50)}`,
        `${other.statsExec} ms / ${ms(other.statsP50)}`,
      ),
      row(
        "claim after churn, first run: Execution Time",
        `${mine.churnFirstExec} ms`,
        `${other.churnFirstExec} ms`,
      ),
    );
  }

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
