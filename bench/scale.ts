/**
 * How pgwake bends with size: claim latency and drain throughput on an empty table, with a
 * backlog of 1,000,000 queued jobs, with 5,000,000 finished jobs retained, and with 1 → 10
 * worker processes. Prints a Markdown table (and writes bench/results/scale-<date>.md, or
 * scale-<date>b.md and so on when that exists).
 *
 *   DATABASE_URL=postgres://… node --import tsx bench/scale.ts
 *   SCALE_QUEUED=1000000 SCALE_FINISHED=5000000 SCALE_JOBS=40000 SCALE_PROCESSES=1,2,4,10
 *
 * Claim latency: 300 claims of 10 jobs, one after another, through the prepared statement the
 * client uses (src/db/queries.ts), each its own transaction, as a worker's claim is. Drain: that
 * many worker processes (concurrency 10 each, default settings) work SCALE_JOBS jobs; every job
 * is counted (none lost, none twice) from the workers' reports. The data is written with plain
 * SQL (generate_series; finished jobs on pages packed full), then VACUUM ANALYZE and a CHECKPOINT,
 * as a long-running table would be.
 */
import { fork, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { connect } from "../src/index.js";
import { Queries, type Db, type LeaseRef } from "../src/db/queries.js";
import { writeFormatted } from "./lib/formatted.ts";
import { withPagesPackedFull } from "./lib/packed-pages.ts";

const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const QUEUED = Number(process.env.SCALE_QUEUED ?? 1_000_000);
const FINISHED = Number(process.env.SCALE_FINISHED ?? 5_000_000);
const JOBS = Number(process.env.SCALE_JOBS ?? 40_000);
const PROCESSES = (process.env.SCALE_PROCESSES ?? "1,2,4,10").split(",").map(Number);
const schema = `scale_${Date.now()}`;
const WORKER = fileURLToPath(new URL("./scale-worker.ts", import.meta.url));
const sql = postgres(url, { max: 4, onnotice: () => undefined });
const t = (name: string): string => `"${schema}".${name}`;

interface Row {
  scenario: string;
  rows: number;
  processes: number;
  claimP50: number;
  claimP99: number;
  jobsPerSecond: number;
}
const results: Row[] = [];

const percentile = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/**
 * Adds `count` jobs of queue "scale" in `state`, indexes from `from`, in chunks of 500,000;
 * finished ones on pages packed full (see lib/packed-pages.ts). A checkpoint follows, so the
 * measurement does not pay for writing out the fill.
 */
async function fill(state: "queued" | "completed", from: number, count: number): Promise<void> {
  const write = async (): Promise<void> => {
    for (let start = 0; start < count; start += 500_000) {
      const n = Math.min(500_000, count - start);
      await sql.unsafe(
        `insert into ${t("_jobs")} (queue, state, payload, attempt, result, started_at, finished_at, run_at)
         select 'scale', $1::${t("job_state")}, jsonb_build_object('i', g), $2::int, $3::text::jsonb,
                $4::timestamptz, $4::timestamptz, now() - interval '1 hour' + g * interval '1 microsecond'
         from generate_series($5::int, $5::int + $6::int - 1) g`,
        state === "completed"
          ? [state, 1, "null", new Date().toISOString(), from + start, n]
          : [state, 0, null, null, from + start, n],
      );
    }
  };
  await (state === "completed" ? withPagesPackedFull(sql, t("_jobs"), write) : write());
  await sql.unsafe(`vacuum analyze ${t("_jobs")}`);
  await sql.unsafe(`checkpoint`).catch((error: { code?: string }) => {
    if (error.code !== "42501") throw error;
    console.log(
      "# no CHECKPOINT after the fill: it needs a superuser (or pg_checkpoint, PostgreSQL 15+)",
    );
  });
}

/**
 * 300 claims of 10 through the client's own statement (src/db/queries.ts, prepared), handed back
 * uncounted in one go afterwards (the statement a stopping worker uses), so the drain that
 * follows still finds every job.
 */
async function claimLatency(): Promise<{ p50: number; p99: number }> {
  const queries = new Queries(schema, true);
  const db = sql as unknown as Db;
  const times: number[] = [];
  const claimed: LeaseRef[] = [];
  for (let i = 0; i < 300; i++) {
    const started = performance.now();
    const { rows } = await queries.claimJobs(db, "scale", 10, "scale-probe", null);
    times.push(performance.now() - started);
    for (const row of rows) claimed.push({ id: row.id, token: row.leaseToken });
  }
  await queries.releaseJobs(db, claimed);
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

function start(): Promise<ChildProcess> {
  const child = fork(WORKER, [url, schema], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.on("message", (m: { type: string }) => m.type === "ready" && resolve(child));
  });
}

/** `processes` workers drain `count` jobs with indexes [from, from + count); every one counted. */
async function drain(processes: number, from: number, count: number): Promise<number> {
  const seen = new Uint8Array(count);
  let finished = 0;
  let twice = 0;
  let all!: () => void;
  const done = new Promise<void>((resolve) => (all = resolve));
  const children = await Promise.all(Array.from({ length: processes }, () => start()));
  let ended = 0;
  for (const child of children) {
    child.on("message", (m: { type: string; indexes?: number[] }) => {
      if (m.type !== "done") return;
      for (const i of m.indexes!) {
        const k = i - from;
        if (k < 0 || k >= count) continue; // a job of the backlog beyond the measured range
        if ((seen[k] = (seen[k] ?? 0) + 1) > 1) twice++;
        else if (++finished === count) {
          ended = performance.now();
          all();
        }
      }
    });
  }
  const began = performance.now();
  for (const child of children) child.send({ type: "go" });
  await done;
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          child.on("message", (m: { type: string }) => m.type === "stopped" && resolve());
          child.send({ type: "stop" });
        }),
    ),
  );
  if (twice > 0) throw new Error(`${twice} jobs ran twice`);
  return count / ((ended - began) / 1000);
}

async function measure(scenario: string, processes: number, from: number, count: number) {
  const [{ n }] = await sql.unsafe<[{ n: number }]>(`select count(*)::int as n from ${t("_jobs")}`);
  const claim = await claimLatency();
  const rate = await drain(processes, from, count);
  const row = {
    scenario,
    rows: n,
    processes,
    claimP50: claim.p50,
    claimP99: claim.p99,
    jobsPerSecond: rate,
  };
  results.push(row);
  console.log(JSON.stringify(row));
}

const client = await connect({ url, schema });
await client.createQueue("scale", { retention: "30d" });
await client.close();
const [{ version }] = await sql<
  [{ version: string }]
>`select current_setting('server_version') as version`;
console.log(`# PostgreSQL ${version}, schema ${schema}`);

let next = 0;
const batch = async (state: "queued" | "completed", count: number): Promise<number> => {
  const from = next;
  await fill(state, from, count);
  next += count;
  return from;
};

// 1 → N processes on a table holding only the jobs to drain.
for (const processes of PROCESSES) {
  await sql.unsafe(`truncate ${t("_jobs")}`);
  const from = await batch("queued", JOBS);
  await measure("empty table", processes, from, JOBS);
}
// A backlog: SCALE_QUEUED jobs queued, the first SCALE_JOBS of them drained.
await sql.unsafe(`truncate ${t("_jobs")}`);
{
  const from = await batch("queued", QUEUED);
  await measure(`${QUEUED.toLocaleString("en")} queued`, 1, from, JOBS);
  await sql.unsafe(`truncate ${t("_jobs")}`);
}
// Finished jobs retained, then a fresh SCALE_JOBS to drain among them.
await batch("completed", FINISHED);
for (const processes of [1, Math.max(...PROCESSES)]) {
  const from = await batch("queued", JOBS);
  await measure(`${FINISHED.toLocaleString("en")} finished retained`, processes, from, JOBS);
}

const table = [
  "| scenario | rows in _jobs | worker processes (×10) | claim of 10, p50 ms | p99 ms | drain jobs/s |",
  "|---|---:|---:|---:|---:|---:|",
  ...results.map(
    (r) =>
      `| ${r.scenario} | ${r.rows.toLocaleString("en")} | ${r.processes} | ${r.claimP50.toFixed(2)} | ${r.claimP99.toFixed(2)} | ${Math.round(r.jobsPerSecond).toLocaleString("en")} |`,
  ),
].join("\n");
console.log(`\n${table}`);
const out = fileURLToPath(new URL("./results/", import.meta.url));
mkdirSync(out, { recursive: true });
// A day's later runs get b, c, …: a run never overwrites results the README may cite.
const day = `${out}scale-${new Date().toISOString().slice(0, 10)}`;
const suffix = ["", ..."bcdefghijklmnopqrstuvwxyz"].find((s) => !existsSync(`${day}${s}.md`));
await writeFormatted(
  `${day}${suffix ?? `-${Date.now()}`}.md`,
  `# bench/scale.ts, PostgreSQL ${version}\n\nJOBS=${JOBS} QUEUED=${QUEUED} FINISHED=${FINISHED}\n\n${table}\n`,
);
await sql.unsafe(`drop schema "${schema}" cascade`);
await sql.end();
