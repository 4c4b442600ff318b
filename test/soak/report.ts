/** The soak's samples as a table, and the arithmetic of its verdict. */
import type { HorizonHolder, TableStats } from "./table-stats.js";

/** One row of the soak: the client and the jobs table after `jobs` jobs, settled. */
export interface Sample {
  jobs: number;
  /** Seconds since the first send, sampling pauses included. */
  elapsedS: number;
  /** Jobs per second over the round that ended here, from its first send to its last ack. */
  roundRate: number;
  /** The round's slowest awaited completion: handler returned → `completed` resolved, in ms. */
  slowestCompletionMs: number;
  heapUsed: number;
  rss: number;
  /** Sum of the client's collection sizes, and of its listeners (./census.ts). */
  items: number;
  listeners: number;
  /** Timers set by src/ still pending (unref'd ones included). */
  timers: number;
  /** Open sockets (TCP handles) in the process. */
  sockets: number;
  /** Active handles and requests by type, as `process.getActiveResourcesInfo()` counts them. */
  handles: Map<string, number>;
  /** How long the census took to come back to the baseline, and what still differed if not. */
  settleMs: number;
  diff: string[];
  table: TableStats;
  /** The session holding the database's xmin horizon back when the sample was taken. */
  horizon: HorizonHolder | null;
}

const MB = 1024 * 1024;

/** Least-squares slope of y over x (0 with fewer than two points). */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Heap growth over the second half of the samples, by linear regression: bytes per job, and in all. */
export function heapTrend(samples: Sample[]): { bytesPerJob: number; growth: number } {
  const half = samples.slice(Math.floor(samples.length / 2));
  const perJob = slope(
    half.map((s) => s.jobs),
    half.map((s) => s.heapUsed),
  );
  const span = half.length > 1 ? half.at(-1)!.jobs - half[0]!.jobs : 0;
  return { bytesPerJob: perJob, growth: perJob * span };
}

export function mb(bytes: number): string {
  return (bytes / MB).toFixed(1);
}

export function thousands(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** The samples as an aligned text table. */
export function formatSamples(samples: Sample[]): string {
  const header = [
    "jobs",
    "time s",
    "jobs/s",
    "heap MB",
    "rss MB",
    "items",
    "listen",
    "timers",
    "sockets",
    "settle ms",
    "slowest done ms",
    "live tup",
    "dead tup",
    "expired",
    "table MB",
    "vacuums",
  ];
  const rows = samples.map((s) => [
    thousands(s.jobs),
    s.elapsedS.toFixed(1),
    thousands(s.roundRate),
    mb(s.heapUsed),
    mb(s.rss),
    String(s.items),
    String(s.listeners),
    String(s.timers),
    String(s.sockets),
    s.diff.length > 0 ? `${Math.round(s.settleMs)}!` : String(Math.round(s.settleMs)),
    thousands(s.slowestCompletionMs),
    thousands(s.table.liveTuples),
    thousands(s.table.deadTuples),
    thousands(s.table.expired),
    mb(s.table.totalBytes),
    String(s.table.autovacuums + s.table.vacuums),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((cell, i) => cell.padStart(widths[i]!)).join("  ");
  return [line(header), ...rows.map(line)].join("\n");
}

/** Handles by type, e.g. "TCPSocketWrap 12, Timeout 1". */
export function formatHandles(handles: Map<string, number>): string {
  return [...handles]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([type, n]) => `${type} ${n}`)
    .join(", ");
}
