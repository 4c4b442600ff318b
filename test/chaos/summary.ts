/** The chaos run's summary, as printed by `npm run chaos` and by the short test. */
import type { ChaosReport, FaultKind } from "./runner.js";

const seconds = (ms: number | null): string => (ms === null ? "—" : `${(ms / 1000).toFixed(2)} s`);
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join("  ")
      .trimEnd(),
  );
}

function codes(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort(([, a], [, b]) => b - a);
  return entries.length === 0 ? "none" : entries.map(([code, n]) => `${code} ${n}`).join(", ");
}

export function formatSummary(report: ChaosReport): string {
  const { options, verdict, faults } = report;
  const count = (kind: FaultKind): number => faults.filter((f) => f.kind === kind).length;
  const recoveries = faults.flatMap((f) => (f.recoveryMs === null ? [] : [f.recoveryMs]));
  const workerErrors: Record<string, number> = {};
  for (const worker of report.workers) {
    for (const [code, n] of Object.entries(worker.errorCodes)) {
      workerErrors[code] = (workerErrors[code] ?? 0) + n;
    }
  }
  const lines = [
    `chaos: ${options.jobs} jobs, ${options.workers} workers × ${options.concurrency}, ` +
      `lease ${seconds(options.leaseMs)}, ` +
      (options.connectTimeoutS === undefined
        ? ""
        : `connect_timeout ${options.connectTimeoutS} s, `) +
      `PostgreSQL ${report.serverVersion}, ` +
      `${seconds(report.elapsedMs)}`,
    "",
    ...table([
      ["at", "fault", "what happened", "recovered in"],
      ...faults.map((f) => [
        seconds(f.atMs),
        f.kind,
        f.detail +
          (f.orphans
            ? `; ${f.orphans.jobs} jobs left running, done elsewhere ${seconds(f.orphans.backAfterMs)} after`
            : ""),
        seconds(f.recoveryMs),
      ]),
    ]),
    "",
    ...table([
      [
        "jobs",
        `${verdict.jobs} (${verdict.sendsResolved} sends resolved, ${verdict.sendsRejected} rejected)`,
      ],
      ["completions", `${verdict.completions}`],
      ["executions", `${verdict.executions}`],
      ["redeliveries", `${verdict.redeliveries} (in ${verdict.jobsRedelivered} jobs)`],
      ["kills", `${count("kill")}`],
      ["terminations", `${count("terminate")} rounds of pg_terminate_backend`],
      ["restarts", `${count("restart")} fast, ${count("crash")} immediate (crash recovery)`],
      [
        "time to recover",
        `median ${seconds(median(recoveries))}, max ${seconds(recoveries.length ? Math.max(...recoveries) : null)}`,
      ],
      ["hanging", `${verdict.hanging} completed promises`],
      [
        "handler statements",
        `${report.workers.reduce((n, w) => n + (w.sideTimeouts ?? 0), 0)} given up unanswered ` +
          "(the workers' own pool, not pgwake's)",
      ],
      [
        "client errors",
        `producer: ${codes(report.producerErrors)}; workers: ${codes(workerErrors)}`,
      ],
      ...report.memory.map((m) => [
        `heap, worker ${m.worker}`,
        `${mb(m.start.heapUsed)} → ${mb(m.end.heapUsed)} (rss ${mb(m.start.rss)} → ${mb(m.end.rss)})`,
      ]),
    ]),
    "",
    "slowest to settle:",
    ...report.slowest.map(
      (s) => `  job ${s.n}, sent at ${seconds(s.sentAtMs)}: ${seconds(s.tookMs)}, ${s.outcome}`,
    ),
    "",
    verdict.problems.length === 0
      ? "every job completed exactly once with its own result; every completion settled"
      : `PROBLEMS:\n${verdict.problems.map((p) => `- ${p}`).join("\n")}`,
  ];
  return lines.join("\n");
}
