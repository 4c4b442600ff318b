/** The medians, pgwake's ratios, and the Markdown report. */
import type { Machine } from "./machine.ts";
import type { PgbenchResult } from "./pgbench.ts";
import { median, round } from "./stats.ts";
import {
  LIBRARIES,
  SETTINGS,
  type Library,
  type Outcome,
  type Setting,
  type SettingsDescription,
  type Workload,
} from "./types.ts";

export interface Sample {
  round: number;
  workload: Workload;
  library: Library;
  setting: Setting;
  outcome?: Outcome;
  error?: string;
  /** The default setting's outcome, reused: this setting changes nothing the workload uses. */
  reused?: boolean;
}

export interface Options {
  rounds: number;
  jobs: number;
  concurrency: number;
  producers: number;
  bulkSize: number;
  wakeJobs: number;
  wakeGapMs: number;
  roundTrips: number;
  drainCapMs: number;
  wakeCapMs: number;
  roundTripCapMs: number;
  pgbenchSeconds: number;
  quick: boolean;
}

interface Metric {
  id: string;
  label: string;
  unit: string;
  better: "higher" | "lower";
  workload: Workload;
  /** The metric of one outcome: null when not reached within the cap (slower than any figure). */
  value(outcome: Outcome): number | null | undefined;
}

export const METRICS: Metric[] = [
  {
    id: "enqueue-one",
    label: "enqueue, one at a time, 10 concurrent producers",
    unit: "jobs/s",
    better: "higher",
    workload: "enqueue-one",
    value: (o) => o.perSecond,
  },
  {
    id: "enqueue-bulk",
    label: "enqueue, bulk calls of 1,000",
    unit: "jobs/s",
    better: "higher",
    workload: "enqueue-bulk",
    value: (o) => o.perSecond,
  },
  {
    id: "drain-1",
    label: "drain pre-queued no-op jobs, 1 process × 10",
    unit: "jobs/s",
    better: "higher",
    workload: "drain-1",
    value: (o) => o.perSecond,
  },
  {
    id: "drain-4",
    label: "drain pre-queued no-op jobs, 4 processes × 10",
    unit: "jobs/s",
    better: "higher",
    workload: "drain-4",
    value: (o) => o.perSecond,
  },
  {
    id: "cpu-1",
    label: "client CPU per job, drain 1 × 10",
    unit: "µs",
    better: "lower",
    workload: "drain-1",
    value: (o) => o.cpuMicrosPerJob,
  },
  {
    id: "cpu-4",
    label: "client CPU per job, drain 4 × 10 (sum)",
    unit: "µs",
    better: "lower",
    workload: "drain-4",
    value: (o) => o.cpuMicrosPerJob,
  },
  {
    id: "server-cpu-1",
    label: "server CPU per job, drain 1 × 10 (all PostgreSQL processes)",
    unit: "µs",
    better: "lower",
    workload: "drain-1",
    value: (o) => o.serverCpuMicrosPerJob,
  },
  {
    id: "server-cpu-4",
    label: "server CPU per job, drain 4 × 10 (all PostgreSQL processes)",
    unit: "µs",
    better: "lower",
    workload: "drain-4",
    value: (o) => o.serverCpuMicrosPerJob,
  },
  {
    id: "wal-enqueue-one",
    label: "WAL written per job, enqueue one at a time",
    unit: "bytes",
    better: "lower",
    workload: "enqueue-one",
    value: (o) => o.walBytesPerJob,
  },
  {
    id: "wal-enqueue-bulk",
    label: "WAL written per job, enqueue in bulk",
    unit: "bytes",
    better: "lower",
    workload: "enqueue-bulk",
    value: (o) => o.walBytesPerJob,
  },
  {
    id: "wal-1",
    label: "WAL written per job, drain 1 × 10",
    unit: "bytes",
    better: "lower",
    workload: "drain-1",
    value: (o) => o.walBytesPerJob,
  },
  ...(["p50", "p95", "p99", "max"] as const).map((p): Metric => ({
    id: `wake-${p}`,
    label: `wake latency ${p} (idle workers, send → handler start)`,
    unit: "ms",
    better: "lower",
    workload: "wake",
    value: (o) => o.latency?.[p],
  })),
  ...(["p50", "p95", "p99", "max"] as const).map((p): Metric => ({
    id: `wake-busy-${p}`,
    label: `wake latency ${p} while the same library drains another schema at full speed`,
    unit: "ms",
    better: "lower",
    workload: "wake-busy",
    value: (o) => o.latency?.[p],
  })),
  {
    id: "wake-busy-load",
    label: "the load's pace meanwhile (the other schema's drain)",
    unit: "jobs/s",
    better: "higher",
    workload: "wake-busy",
    value: (o) => o.loadPerSecond,
  },
  ...(["p50", "p95", "p99"] as const).map((p): Metric => ({
    id: `round-trip-${p}`,
    label: `round trip ${p} (send → producer learns it completed)`,
    unit: "ms",
    better: "lower",
    workload: "round-trip",
    value: (o) => o.latency?.[p],
  })),
];

export interface Cell {
  /** The median over the rounds that succeeded; Infinity when not reached within the cap. */
  median: number | null;
  rounds: Array<number | null>;
  /** Some round did not finish within its cap. */
  partial: boolean;
  /** Some round failed (an error or a failed verification). */
  failed: boolean;
  /** The default setting's measurement, the setting changing nothing this workload uses. */
  reused: boolean;
}

export type Column = `${Library}/${Setting}`;
export const COLUMNS: Column[] = LIBRARIES.flatMap((library) =>
  SETTINGS.map((setting): Column => `${library}/${setting}`),
);

export interface SummaryRow {
  metric: string;
  label: string;
  unit: string;
  better: "higher" | "lower";
  cells: Record<Column, Cell>;
  /** pgwake over the peer at the same setting; above 1 means pgwake is better. */
  ratios: Record<string, number | null>;
}

export function summarise(samples: Sample[]): SummaryRow[] {
  return METRICS.map((metric) => {
    const cells = Object.fromEntries(
      COLUMNS.map((column) => {
        const [library, setting] = column.split("/") as [Library, Setting];
        const mine = samples.filter(
          (s) => s.workload === metric.workload && s.library === library && s.setting === setting,
        );
        const values = mine
          .map((s) => (s.outcome ? metric.value(s.outcome) : undefined))
          .filter((v): v is number | null => v !== undefined)
          .map((v) => v ?? Infinity);
        const cell: Cell = {
          median: values.length ? median(values) : null,
          reused: mine.some((s) => s.reused),
          rounds: mine.map((s) => (s.outcome ? (metric.value(s.outcome) ?? null) : null)),
          partial: mine.some((s) => s.outcome?.partial),
          failed: mine.some((s) => s.error !== undefined),
        };
        return [column, cell];
      }),
    ) as Record<Column, Cell>;
    const ratios: Record<string, number | null> = {};
    for (const peer of LIBRARIES.filter((l) => l !== "pgwake")) {
      for (const setting of SETTINGS) {
        const ours = cells[`pgwake/${setting}`].median;
        const theirs = cells[`${peer}/${setting}`].median;
        ratios[`${peer}/${setting}`] =
          ours === null || theirs === null || !ours || !theirs
            ? null
            : metric.better === "higher"
              ? round(ours / theirs)
              : round(theirs / ours);
      }
    }
    return {
      metric: metric.id,
      label: metric.label,
      unit: metric.unit,
      better: metric.better,
      cells,
      ratios,
    };
  });
}

function number(value: number, unit: string): string {
  if (unit === "ms")
    return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
  return Math.round(value).toLocaleString("en-US");
}

function cellText(cell: Cell, unit: string): string {
  if (cell.failed) return "**FAILED**";
  if (cell.median === null) return "—";
  if (cell.median === Infinity) return "not reached †";
  return `${number(cell.median, unit)}${cell.partial ? " †" : ""}${cell.reused ? " ‡" : ""}`;
}

function ratioText(ratio: number | null | undefined): string {
  if (ratio === null || ratio === undefined) return "—";
  if (ratio === Infinity) return "∞";
  if (ratio === 0) return "0";
  return ratio >= 10 ? `${ratio.toFixed(0)}×` : `${ratio.toFixed(2)}×`;
}

const NAMES: Record<Library, string> = {
  pgwake: "pgwake",
  "graphile-worker": "graphile-worker",
  "pg-boss": "pg-boss",
};

export interface Report {
  date: string;
  command: string;
  options: Options;
  machine: Machine;
  settings: SettingsDescription;
  order: Library[][];
  pgbench: PgbenchResult[][];
  pgbenchVersion: string;
  samples: Sample[];
  summary: SummaryRow[];
  failures: string[];
  wallSeconds: number;
}

export function pgbenchSummary(
  rounds: PgbenchResult[][],
): Array<PgbenchResult & { rounds: number[] }> {
  const first = rounds[0] ?? [];
  return first.map((row) => {
    const all = rounds.map((r) => r.find((x) => x.script === row.script)?.tps ?? NaN);
    const tps = median(all.filter(Number.isFinite));
    return {
      ...row,
      tps: Math.round(tps),
      rowsPerSecond: Math.round(tps * (row.rowsPerSecond / Math.max(1, row.tps))),
      rounds: all,
    };
  });
}

export function markdown(report: Report): string {
  const { machine, options } = report;
  const pg = machine.postgres;
  const s = pg.settings;
  const lines: string[] = [];
  const versionLine = (library: Library): string =>
    `${NAMES[library]} ${machine.versions[library] ?? "?"}`;
  lines.push(`# pgwake beside graphile-worker and pg-boss (${report.date})`, "");
  lines.push(
    `${versionLine("pgwake")} (commit ${machine.pgwakeCommit}), ${versionLine("graphile-worker")}, ${versionLine("pg-boss")}; ` +
      `every library on Node ${machine.node.workers} (the harness on ${machine.node.harness}).`,
    "",
  );
  lines.push(
    `- **Machine:** ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os} (kernel ${machine.kernel}); load average at the start ${machine.loadAverageAtStart.join(" / ")}.`,
    `- **PostgreSQL:** ${pg.version.split(" on ")[0]}${pg.embedded ? " (embedded, from npm)" : ""} on the same machine; shared_buffers ${s.shared_buffers}, synchronous_commit ${s.synchronous_commit}, fsync ${s.fsync}, full_page_writes ${s.full_page_writes}, max_connections ${s.max_connections}.`,
    `- **Run:** ${options.rounds} round(s), ${options.jobs.toLocaleString("en-US")} jobs per throughput workload, concurrency ${options.concurrency}; the libraries alternate (${report.order.map((o) => o.join(" → ")).join("; ")}); each cell is the median of the rounds. ${Math.round(report.wallSeconds / 60)} min in all.`,
    `- **Reproduce:** \`${report.command}\``,
    "",
  );
  const head = ["workload", "unit", ...COLUMNS.map((c) => c.replace("/", " "))];
  lines.push(
    `| ${head.join(" | ")} |`,
    `| ${head.map((_, i) => (i < 2 ? "---" : "---:")).join(" | ")} |`,
  );
  for (const row of report.summary) {
    lines.push(
      `| ${row.label} | ${row.unit} | ${COLUMNS.map((c) => cellText(row.cells[c], row.unit)).join(" | ")} |`,
    );
  }
  lines.push("");
  lines.push(
    "**pgwake's ratio to each peer**, at the same setting (pgwake default ÷ peer default, pgwake fast ÷ peer fast), turned so that **above 1× means pgwake is better** (more jobs/s, or fewer ms or µs):",
    "",
  );
  const peers = COLUMNS.filter((c) => !c.startsWith("pgwake/"));
  lines.push(
    `| workload | ${peers.map((c) => `vs ${c.replace("/", " ")}`).join(" | ")} |`,
    `| --- | ${peers.map(() => "---:").join(" | ")} |`,
  );
  for (const row of report.summary) {
    lines.push(`| ${row.label} | ${peers.map((c) => ratioText(row.ratios[c])).join(" | ")} |`);
  }
  lines.push("");
  if (report.pgbench.length) {
    lines.push(
      `**PostgreSQL's own limit** (${report.pgbenchVersion}, same server, median of ${report.pgbench.length} run(s)):`,
      "",
      "| pgbench script | clients | transactions/s | rows/s |",
      "| --- | ---: | ---: | ---: |",
    );
    for (const row of pgbenchSummary(report.pgbench)) {
      lines.push(
        `| ${row.description} | ${row.clients} | ${row.tps.toLocaleString("en-US")} | ${row.rowsPerSecond.toLocaleString("en-US")} |`,
      );
    }
    lines.push("");
  } else {
    lines.push("pgbench was not found: PostgreSQL's own limit was not measured.", "");
  }
  lines.push("**Settings**", "");
  for (const library of LIBRARIES) {
    for (const setting of SETTINGS) {
      lines.push(`- ${NAMES[library]} ${setting}: ${report.settings[library][setting]}`);
    }
  }
  lines.push("");
  lines.push(
    "**How it is measured.** Each library runs in a schema of its own, dropped and created anew for every workload; each workload runs in fresh child processes, one library per process. " +
      "Enqueue: the time for all sends to resolve. Drains: jobs queued in bulk beforehand (untimed), workers connected, then timed from the start of `work` until every handler ran and the database shows no unfinished job (so acks count); client CPU is `process.cpuUsage()` of the worker processes over the drain; server CPU, when PostgreSQL runs on this machine, is the user + system time of every `postgres` process (backends, autovacuum, WAL writer) over the same span, from `/proc`; WAL written is the server's WAL insert position after the drain less before it. " +
      `Wake latency: workers idle for 1 s, then ${options.wakeJobs} jobs sent ${options.wakeGapMs} ms apart from the same process; send → handler start. ` +
      `Round trip: ${options.roundTrips} in a row; pgwake awaits \`send(…).completed\`; graphile-worker and pg-boss have no completion API, so the producer polls the job every 5 ms (graphile-worker: its row until deleted; pg-boss: \`findJobs(name, { id })\` until \`completed\`). ` +
      "Every workload checks that no job was lost or ran twice: the stored jobs, or the handled ones and what is left unfinished, are compared with what was sent, by payload index; a failed check fails the run.",
    "",
  );
  if (report.summary.some((row) => COLUMNS.some((c) => row.cells[c].partial))) {
    lines.push(
      `† did not finish within its cap (drain ${options.drainCapMs / 1000} s, or stopped after 5 s when its pace could not finish within that; wake ${options.wakeCapMs / 1000} s after the last send; round trips ${options.roundTripCapMs / 1000} s): the rate is over what ran, and a latency percentile that the jobs which ran do not reach shows as "not reached". The JSON has every round.`,
      "",
    );
  }
  if (report.summary.some((row) => COLUMNS.some((c) => row.cells[c].reused))) {
    lines.push(
      "‡ the same measurement as the default setting's: this library's fast setting changes only its workers.",
      "",
    );
  }
  if (report.failures.length) {
    lines.push("**Failures**", "", ...report.failures.map((f) => `- ${f.split("\n")[0]}`), "");
  }
  return lines.join("\n");
}
