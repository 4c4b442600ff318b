/**
 * What enqueueing costs: jobs per second for one-at-a-time sends and for bulk sendMany, to an
 * unbounded queue and to a bounded one (maxSize), for one pgwake source tree. Run it against two
 * trees (say HEAD and a commit before `_enqueue`) to see what a change costs queues that do not
 * use it.
 *
 *   node --import tsx bench/enqueue-cost.ts
 *   PGWAKE_SRC=/path/to/other/checkout/src BENCH_SCHEMA=pgwake_bench_old \
 *     node --import tsx bench/enqueue-cost.ts
 *
 * Workloads, each run ROUNDS times (after WARMUP unreported rounds), reporting the median:
 *   one-at-a-time  10 concurrent producers in this process, each awaiting `q.send(i)` 1,000
 *                  times (10,000 jobs; pgwake coalesces concurrent sends into shared inserts)
 *   bulk           10 sequential `sendMany` calls of 1,000 jobs (10,000 jobs)
 * The jobs table is truncated before every round, so each round starts from an empty table.
 * The schema is dropped and recreated (migrated by `connect`) at the start of each run.
 * Queues: `unbounded` (no maxSize) and `bounded` (maxSize 1,000,000, never reached). A tree whose
 * createQueue refuses maxSize (a ValidationError) is measured unbounded only.
 *
 * Environment:
 *   DATABASE_URL   default postgres://postgres@127.0.0.1:5432/test
 *   PGWAKE_SRC     the pgwake source directory, relative to this script or absolute
 *                  (default ../src); `${PGWAKE_SRC}/index.js` is imported
 *   BENCH_SCHEMA   the schema to use, dropped at the start and the end (default pgwake_bench_enqueue)
 *   ROUNDS         measured rounds per workload (default 3)
 *   WARMUP         unreported rounds per workload before them (default 2: the first rounds
 *                  still pay for JIT warm-up in Node and for plan caching on new connections)
 *   LABEL          a name for this run in the output (default: PGWAKE_SRC)
 *   OUT            also write the results here, as JSON
 *   KEEP=1         keep the schema at the end
 */
import { writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath, pathToFileURL } from "node:url";
import postgres from "postgres";

const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const SRC = process.env.PGWAKE_SRC ?? "../src";
const SCHEMA = process.env.BENCH_SCHEMA ?? "pgwake_bench_enqueue";
const ROUNDS = positiveInteger("ROUNDS", 3);
const WARMUP = positiveInteger("WARMUP", 2, true);
const LABEL = process.env.LABEL ?? SRC;
const OUT = process.env.OUT ? resolve(process.env.OUT) : undefined;
const KEEP = process.env.KEEP === "1";

const PRODUCERS = 10;
const SENDS_PER_PRODUCER = 1_000;
const BATCHES = 10;
const BATCH_SIZE = 1_000;
const MAX_SIZE = 1_000_000;

/** The slice of the public API this script uses, the same in every version measured. */
interface Queue {
  send(payload: unknown): PromiseLike<string>;
  sendMany(items: Array<{ payload: unknown }>): PromiseLike<string[]>;
}
interface Client {
  createQueue(name: string, options?: { maxSize?: number }): Promise<Queue>;
  close(): Promise<void>;
}
interface Pgwake {
  connect(options: { url: string; schema: string; pollInterval: false }): Promise<Client>;
}

interface Result {
  queue: string;
  workload: string;
  jobs: number;
  /** Jobs per second of each measured round, in run order. */
  rounds: number[];
  median: number;
  min: number;
  max: number;
  /** (max - min) / median, in percent. */
  spreadPct: number;
}

function positiveInteger(name: string, fallback: number, zero = false): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < (zero ? 0 : 1)) {
    throw new Error(`expected ${name} to be an integer ${zero ? "from 0" : "from 1"}, got ${raw}`);
  }
  return value;
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function log(message = ""): void {
  process.stdout.write(`${message}\n`);
}

function srcUrl(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = isAbsolute(SRC) ? SRC : resolve(here, SRC);
  return pathToFileURL(resolve(dir, "index.js")).href;
}

/** Each of PRODUCERS producers awaits its sends one by one; returns the jobs written. */
async function oneAtATime(q: Queue): Promise<number> {
  await Promise.all(
    Array.from({ length: PRODUCERS }, async (_, p) => {
      for (let i = 0; i < SENDS_PER_PRODUCER; i++) await q.send(p * SENDS_PER_PRODUCER + i);
    }),
  );
  return PRODUCERS * SENDS_PER_PRODUCER;
}

/** BATCHES sequential sendMany calls of BATCH_SIZE jobs; returns the jobs written. */
async function bulk(q: Queue): Promise<number> {
  for (let b = 0; b < BATCHES; b++) {
    await q.sendMany(
      Array.from({ length: BATCH_SIZE }, (_, i) => ({ payload: b * BATCH_SIZE + i })),
    );
  }
  return BATCHES * BATCH_SIZE;
}

const WORKLOADS: Array<[string, (q: Queue) => Promise<number>]> = [
  ["one-at-a-time", oneAtATime],
  ["bulk", bulk],
];

async function main(): Promise<void> {
  const pgwake = (await import(srcUrl())) as Pgwake;
  const s = quoteIdentifier(SCHEMA);
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => undefined });
  const [{ version }] = await admin<[{ version: string }]>`select version()`;
  log(`pgwake ${srcUrl()}`);
  log(`schema ${SCHEMA}, ${ROUNDS} rounds (+${WARMUP} warm-up) per workload`);
  log(`${version.split(",")[0]}, node ${process.version}, ${availableParallelism()} CPUs`);

  await admin.unsafe(`drop schema if exists ${s} cascade`);
  const client = await pgwake.connect({ url: DATABASE_URL, schema: SCHEMA, pollInterval: false });
  const results: Result[] = [];
  try {
    const queues: Array<[string, Queue]> = [
      ["unbounded", await client.createQueue("bench_unbounded")],
    ];
    try {
      queues.push(["bounded", await client.createQueue("bench_bounded", { maxSize: MAX_SIZE })]);
    } catch (error) {
      if ((error as Error).name !== "ValidationError") throw error;
      log(`bounded queue skipped: ${(error as Error).message}`);
    }

    for (const [queueName, q] of queues) {
      for (const [workload, run] of WORKLOADS) {
        const rates: number[] = [];
        let jobs = 0;
        for (let round = 0; round < WARMUP + ROUNDS; round++) {
          await admin.unsafe(`truncate ${s}._jobs`);
          const start = performance.now();
          jobs = await run(q);
          const seconds = (performance.now() - start) / 1000;
          const [{ count }] = await admin.unsafe<[{ count: string }]>(
            `select count(*)::text as count from ${s}._jobs`,
          );
          if (Number(count) !== jobs) throw new Error(`expected ${jobs} jobs, found ${count}`);
          if (round >= WARMUP) rates.push(jobs / seconds);
        }
        const m = median(rates);
        const result: Result = {
          queue: queueName,
          workload,
          jobs,
          rounds: rates.map((r) => Math.round(r)),
          median: Math.round(m),
          min: Math.round(Math.min(...rates)),
          max: Math.round(Math.max(...rates)),
          spreadPct: Math.round(((Math.max(...rates) - Math.min(...rates)) / m) * 1000) / 10,
        };
        results.push(result);
        log(
          `  ${queueName} ${workload}: ${result.rounds.join(", ")} jobs/s (median ${result.median})`,
        );
      }
    }
  } finally {
    await client.close();
    if (!KEEP) await admin.unsafe(`drop schema if exists ${s} cascade`);
    await admin.end();
  }

  log();
  log(`${LABEL}: jobs/s, median of ${ROUNDS} rounds`);
  const head = ["queue", "workload", "median", "min", "max", "spread"];
  const rows = results.map((r) => [
    r.queue,
    r.workload,
    String(r.median),
    String(r.min),
    String(r.max),
    `${r.spreadPct}%`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  log(line(head));
  for (const row of rows) log(line(row));

  if (OUT) {
    const report = {
      label: LABEL,
      src: srcUrl(),
      schema: SCHEMA,
      rounds: ROUNDS,
      warmup: WARMUP,
      server: version,
      node: process.version,
      cpus: availableParallelism(),
      at: new Date().toISOString(),
      results,
    };
    writeFileSync(OUT, `${JSON.stringify(report, null, 2)}\n`);
    log(`\nwrote ${OUT}`);
  }
}

await main();
