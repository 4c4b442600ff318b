import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { Client } from "../../client.js";
import type { Queue } from "../../queue.js";
import { quoteIdentifier } from "../../db/identifiers.js";
import { JSON_OPTION } from "../args.js";
import { CliError, type Command } from "../command.js";
import { cliSettings, openCliClient } from "../connect.js";
import { millis, prettyJson } from "../format.js";
import { onInterrupt } from "../signals.js";
import { table } from "../table.js";

/** Jobs of the wake-latency step, and the pause between their sends. */
const WAKE_JOBS = 200;
const WAKE_GAP_MS = 5;
/** Sequential round trips. */
const ROUND_TRIPS = 100;

type Payload = { i: number };
type BenchQueue = Queue<Payload, null>;

interface Rate {
  jobs: number;
  ms: number;
  perSecond: number;
}

interface Latency {
  jobs: number;
  p50: number;
  p95: number;
  p99: number;
}

export interface BenchReport {
  postgres: string;
  schema: string;
  jobs: number;
  concurrency: number;
  enqueue: Rate;
  drain: Rate;
  /** Send → handler start, for an idle worker: milliseconds. */
  wakeLatency: Latency;
  /** `await send().completed` with a worker running: milliseconds. */
  roundTrip: Latency;
}

/**
 * `pgwake bench`.
 *
 * @example
 * ```sh
 * pgwake bench --jobs 20000 --concurrency 50 --json
 * ```
 */
export const benchCommand: Command = {
  name: "bench",
  summary: "measure throughput and latency against the database (in a throwaway schema)",
  description:
    "A short check of what this database gives pgwake, in a schema of its own that is dropped afterwards: " +
    `sends --jobs jobs at once, drains them with one worker of --concurrency, then measures the wake ` +
    `latency (an idle worker; ${WAKE_JOBS} jobs sent ${WAKE_GAP_MS} ms apart; send → handler start) and the ` +
    `round trip of await send().completed (${ROUND_TRIPS} in a row). The schema is named after --schema.`,
  options: [
    { name: "jobs", value: "N", description: "jobs to enqueue and drain [5000]" },
    { name: "concurrency", value: "N", description: "the worker's concurrency [10]" },
    JSON_OPTION,
  ],
  database: true,
  async run(args, io) {
    const jobs = args.int("jobs", 5000, 1, 1_000_000);
    const concurrency = args.int("concurrency", 10, 1, 1000);
    const base = (args.string("schema") ?? io.env.PGWAKE_SCHEMA ?? "pgwake").slice(0, 30);
    const schema = `${base}_bench_${randomBytes(4).toString("hex")}`;
    const settings = cliSettings(args, io, { schema, migrate: true, max: 10 });
    const interrupt = onInterrupt(io);
    let client: Client | undefined;
    try {
      client = await openCliClient(settings);
      const stop = interrupt.signal;
      const version = await serverVersion(client);
      const queue = await client.createQueue<Payload, null>("bench");
      const report: BenchReport = {
        postgres: version,
        schema,
        jobs,
        concurrency,
        ...(await throughput(queue, jobs, concurrency, stop)),
        wakeLatency: await wakeLatency(queue, stop),
        roundTrip: await roundTrip(queue, stop),
      };
      io.stdout(args.flag("json") ? prettyJson(report) : describeBench(report));
      return 0;
    } finally {
      await client?.close({ timeout: "5s" });
      await dropSchema(settings.url!, schema);
      interrupt.dispose();
    }
  },
};

async function serverVersion(client: Client): Promise<string> {
  const [row] = await Client.runtimeOf(client).sql<[{ v: string }]>`
    select current_setting('server_version') as v`;
  return row.v;
}

async function dropSchema(url: string, schema: string): Promise<void> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    await sql.unsafe(`drop schema if exists ${quoteIdentifier(schema)} cascade`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Rejects when `signal` aborts or after `ms`, naming what was awaited. */
async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  signal: AbortSignal,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new CliError(`bench gave up after ${ms / 1000}s waiting for ${what}`)),
          ms,
        );
        onAbort = () => reject(new CliError(`bench interrupted while waiting for ${what}`));
        if (signal.aborted) onAbort();
        signal.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}

async function throughput(
  queue: BenchQueue,
  jobs: number,
  concurrency: number,
  stop: AbortSignal,
): Promise<{ enqueue: Rate; drain: Rate }> {
  const limitMs = 60_000 + jobs * 20;
  const enqueueStart = performance.now();
  const sent = Array.from({ length: jobs }, (_, i) => queue.send({ i }));
  const done = Promise.all(sent.map((job) => job.completed));
  await within(Promise.all(sent), limitMs, `${jobs} sends`, stop);
  const enqueueMs = performance.now() - enqueueStart;
  const drainStart = performance.now();
  const worker = queue.work(async () => null, { concurrency });
  try {
    await within(done, limitMs, `${jobs} jobs to complete`, stop);
  } finally {
    await worker.stop({ timeout: "5s" });
  }
  const drainMs = performance.now() - drainStart;
  return { enqueue: rate(jobs, enqueueMs), drain: rate(jobs, drainMs) };
}

async function wakeLatency(queue: BenchQueue, stop: AbortSignal): Promise<Latency> {
  const sentAt: number[] = [];
  const latencies: number[] = [];
  let allStarted!: () => void;
  const started = new Promise<void>((resolve) => (allStarted = resolve));
  const worker = queue.work(async (job) => {
    latencies.push(performance.now() - sentAt[job.payload.i]!);
    if (latencies.length === WAKE_JOBS) allStarted();
    return null;
  });
  try {
    const sends: Array<PromiseLike<string>> = [];
    for (let i = 0; i < WAKE_JOBS && !stop.aborted; i++) {
      sentAt[i] = performance.now();
      sends.push(queue.send({ i }));
      await new Promise((resolve) => setTimeout(resolve, WAKE_GAP_MS));
    }
    await within(Promise.all(sends), 30_000, "the wake-latency sends", stop);
    await within(started, 30_000, `${WAKE_JOBS} handlers to start`, stop);
  } finally {
    await worker.stop({ timeout: "5s" });
  }
  return percentiles(latencies);
}

async function roundTrip(queue: BenchQueue, stop: AbortSignal): Promise<Latency> {
  const worker = queue.work(async () => null);
  const latencies: number[] = [];
  try {
    for (let i = 0; i < ROUND_TRIPS; i++) {
      const start = performance.now();
      await within(queue.send({ i }).completed, 30_000, "a round trip", stop);
      latencies.push(performance.now() - start);
    }
  } finally {
    await worker.stop({ timeout: "5s" });
  }
  return percentiles(latencies);
}

function rate(jobs: number, ms: number): Rate {
  return { jobs, ms: round(ms), perSecond: Math.round((jobs * 1000) / ms) };
}

/** Nearest-rank percentiles, in milliseconds to 0.01. */
export function percentiles(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number): number =>
    round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0);
  return { jobs: samples.length, p50: at(50), p95: at(95), p99: at(99) };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** The report as a table. */
export function describeBench(report: BenchReport): string {
  const rateRow = (step: string, r: Rate, how: string) => [
    step,
    r.jobs,
    `${(r.ms / 1000).toFixed(2)}s`,
    r.perSecond,
    undefined,
    undefined,
    undefined,
    how,
  ];
  const latencyRow = (step: string, l: Latency, how: string) => [
    step,
    l.jobs,
    undefined,
    undefined,
    millis(l.p50),
    millis(l.p95),
    millis(l.p99),
    how,
  ];
  return [
    `PostgreSQL ${report.postgres}, schema ${report.schema} (dropped afterwards)`,
    table(
      ["STEP", "JOBS", "TIME", "JOBS/S", "P50", "P95", "P99", ""],
      [
        rateRow("enqueue", report.enqueue, "concurrent send()"),
        rateRow("drain", report.drain, `work(), concurrency ${report.concurrency}`),
        latencyRow(
          "wake latency",
          report.wakeLatency,
          `send → handler start, idle worker, ${WAKE_GAP_MS} ms apart`,
        ),
        latencyRow("round trip", report.roundTrip, "await send().completed, one at a time"),
      ],
    ),
  ].join("\n");
}
