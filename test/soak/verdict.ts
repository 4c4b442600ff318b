/** The soak's verdict: what it checks, the bounds it holds the run to, and why. */
import type { Census } from "./census.js";
import { heapTrend, mb, thousands, type Sample } from "./report.js";
import { describeHolder } from "./table-stats.js";
import type { Problems } from "./workload.js";

export interface VerdictInput {
  samples: Sample[];
  baseline: Census;
  problems: Problems;
  /** Messages of the client's `error` events. */
  errors: string[];
  /** How often autovacuum (or the soak standing in for it) visits the table, in seconds. */
  naptimeS: number;
  /** Whether anything vacuums the table: the server's autovacuum, or the soak's stand-in. */
  vacuumed: boolean;
  maxHeapGrowthBytes: number;
  afterCloseSrcTimers: number;
}

export function judge(input: VerdictInput): { failed: boolean; lines: string[] } {
  const lines: string[] = [];
  let failed = false;
  const check = (ok: boolean, what: string, detail: string): void => {
    if (!ok) failed = true;
    lines.push(`${ok ? "ok  " : "FAIL"} ${what.padEnd(11)} ${detail}`);
  };
  const { samples, problems } = input;

  check(
    problems.count === 0,
    "jobs",
    problems.count === 0
      ? "every job ran as planned and was acked once; every awaited completion was right"
      : `${problems.count} problems: ${problems.first.slice(0, 10).join("; ")}`,
  );
  check(
    input.errors.length === 0,
    "errors",
    input.errors.length === 0
      ? "the client reported no background error"
      : `${input.errors.length} background errors: ${[...new Set(input.errors)].slice(0, 5).join("; ")}`,
  );

  const unsettled = samples.filter((s) => s.diff.length > 0);
  check(
    unsettled.length === 0,
    "collections",
    unsettled.length === 0
      ? `after every round each collection and listener count came back to the baseline exactly ` +
          `(slowest in ${Math.round(Math.max(...samples.map((s) => s.settleMs)))} ms)`
      : `${unsettled.length} rounds did not settle back: ${unsettled
          .slice(-3)
          .map((s) => `after ${thousands(s.jobs)} jobs ${s.diff.join(", ")}`)
          .join("; ")}`,
  );

  const timers = samples.map((s) => s.timers);
  check(
    Math.max(...timers) <= TIMER_BOUND && input.afterCloseSrcTimers === 0,
    "timers",
    `src/ timers pending between rounds ${Math.min(...timers)}–${Math.max(...timers)} ` +
      `(bound ${TIMER_BOUND}), ${input.afterCloseSrcTimers} after close (bound 0)`,
  );

  const trend = heapTrend(samples);
  check(
    trend.growth <= input.maxHeapGrowthBytes,
    "heap",
    `second half grows ${trend.bytesPerJob.toFixed(2)} B/job, ${mb(trend.growth)} MB ` +
      `(bound ${mb(input.maxHeapGrowthBytes)} MB)`,
  );

  const dead = deadTupleCheck(samples, input.naptimeS, input.vacuumed);
  check(dead.ok, "dead tuples", dead.detail);
  const last = samples.at(-1)!.table;
  const middle = samples[Math.floor((samples.length - 1) / 2)]!.table;
  lines.push(
    `info jobs table ${mb(last.totalBytes)} MB at the end (heap ${mb(last.heapBytes)}, indexes ` +
      `${mb(last.indexBytes)}), ${mb(middle.totalBytes)} MB halfway; ` +
      `${last.autovacuums} autovacuums, ${last.vacuums} stand-in vacuums`,
  );
  const expired = samples.map((s) => s.table.expired);
  lines.push(
    `info cleaner backlog (finished jobs past retention, not yet deleted): max ` +
      `${thousands(Math.max(...expired))}, ${thousands(expired.at(-1)!)} at the end`,
  );
  return { failed, lines };
}

/**
 * Dead row versions one job leaves behind: the claim's update, the ack's update and the
 * cleaner's delete make three; the fourth is room for retries (each adds a nack's update and a
 * claim's) and the odd update of a dedup key's or a delayed job's promotion.
 */
const DEAD_PER_JOB = 4;
/** Statistics are flushed by each backend about once a second and vacuum's count is an estimate. */
const DEAD_SLACK = 10_000;

/**
 * Dead tuples are bounded when vacuum keeps up: autovacuum visits the database every naptime and
 * vacuums the table once its dead tuples pass its threshold, so at any moment the dead tuples are
 * at most those left by the jobs of the last two naptimes (one since the last visit, one for that
 * visit's vacuum to finish). If anything stops vacuum from removing them (autovacuum off, a
 * transaction holding the xmin horizon back), they grow with every job ever run and pass this
 * bound once the run is longer than about two and a half naptimes.
 */
function deadTupleCheck(
  samples: Sample[],
  naptimeS: number,
  vacuumed: boolean,
): { ok: boolean; detail: string } {
  const max = Math.max(...samples.map((s) => s.table.deadTuples));
  if (!vacuumed) {
    return {
      ok: false,
      detail: `max ${thousands(max)}: unbounded, nothing vacuums the table (autovacuum is off and --no-stand-in-vacuum)`,
    };
  }
  // Whatever the run's length: every vacuum must have removed dead tuples. One that cannot (a
  // transaction holding the xmin horizon back) leaves them all, and the count only grows.
  const vacuumsOf = (s: Sample): number => s.table.autovacuums + s.table.vacuums;
  const drops: string[] = [];
  for (let i = 1; i < samples.length; i++) {
    if (vacuumsOf(samples[i]!) === vacuumsOf(samples[i - 1]!)) continue;
    const before = samples[i - 1]!.table.deadTuples;
    const after = samples[i]!.table.deadTuples;
    if (after >= before && before > DEAD_SLACK) {
      return {
        ok: false,
        detail:
          `a vacuum removed nothing: ${thousands(before)} dead tuples before it, ${thousands(after)} ` +
          `after (after ${thousands(samples[i]!.jobs)} jobs): a snapshot held the xmin horizon back; ` +
          `before the vacuum ${describeHolder(samples[i - 1]!.horizon)}`,
      };
    }
    drops.push(`${thousands(before)} → ${thousands(after)}`);
  }
  const vacuumNote =
    drops.length > 0 ? `vacuums took them ${drops.join(", ")}; ` : "no vacuum ran; ";
  const windowS = 2 * naptimeS;
  const judged = samples.filter((s) => s.elapsedS >= windowS);
  if (judged.length === 0) {
    return {
      ok: true,
      detail: `max ${thousands(max)}; ${vacuumNote}bound not judged: the run is shorter than 2 × autovacuum_naptime (${windowS} s)`,
    };
  }
  let worst = { ratio: 0, sample: judged[0]!, bound: 0 };
  for (const s of judged) {
    const before = samples.filter((p) => p.elapsedS <= s.elapsedS - windowS).at(-1)?.jobs ?? 0;
    const bound = DEAD_PER_JOB * (s.jobs - before) + DEAD_SLACK;
    const ratio = s.table.deadTuples / bound;
    if (ratio >= worst.ratio) worst = { ratio, sample: s, bound };
  }
  return {
    ok: worst.ratio <= 1,
    detail:
      `max ${thousands(max)}; ${vacuumNote}judged on ${judged.length} samples past ${windowS} s: at worst ` +
      `${thousands(worst.sample.table.deadTuples)} after ${thousands(worst.sample.jobs)} jobs, bound ` +
      `${thousands(worst.bound)} (${DEAD_PER_JOB} per job of the last 2 × autovacuum_naptime + ${thousands(DEAD_SLACK)})`,
  };
}

/**
 * Timers pgwake may hold armed while idle: the safety poll, the cleaner, the scheduler, a
 * deadline timer per consumed queue, a claim recheck per lane, the completions' recheck, the
 * listener's retry, and a stopping worker's timeout. Ten is more than all of them for one queue;
 * a timer per job (or per round) left behind passes it within a few rounds.
 */
const TIMER_BOUND = 10;
