/**
 * The faults of a chaos run: which happen when, how each is injected, and how recovery from it
 * is measured.
 */
import type { ChaosDatabase } from "./database.js";
import type { Fleet } from "./fleet.js";
import type { Producer } from "./producer.js";

export type FaultKind = "kill" | "terminate" | "restart" | "crash";
export const FAULT_KINDS: readonly FaultKind[] = ["kill", "terminate", "restart", "crash"];

export interface FaultRecord {
  kind: FaultKind;
  /** Since the run started. */
  atMs: number;
  detail: string;
  /** From the end of the fault to the first probe completed; null if none did in time. */
  recoveryMs: number | null;
  /** When it happened, by the wall clock (the database's clock on this machine). */
  wallAt: number;
  /** A killed worker's pid, for counting the jobs it left behind. */
  pid?: number;
  /** Jobs the killed worker was running, and when the last of them was completed by another. */
  orphans?: { jobs: number; backAfterMs: number | null };
}

/** A fault after which no probe completes within this long failed to recover. */
const RECOVERY_LIMIT_MS = 60_000;

/** When each fault happens (ms from the start), and which. */
export function plan(
  faults: FaultKind[] | "random",
  durationMs: number,
  everyMs: number,
): Array<[number, FaultKind]> {
  if (faults !== "random") {
    const step = durationMs / (faults.length + 1);
    return faults.map((kind, i) => [step * (i + 1), kind]);
  }
  const planned: Array<[number, FaultKind]> = [];
  for (let at = everyMs; at < durationMs; at += everyMs) {
    planned.push([at, FAULT_KINDS[Math.floor(Math.random() * FAULT_KINDS.length)]!]);
  }
  return planned;
}

/** Injects one fault; resolves once it is over (a restarted server accepts connections again). */
export async function inject(
  kind: FaultKind,
  db: ChaosDatabase,
  fleet: Fleet,
  log: (line: string) => void,
): Promise<FaultRecord> {
  const fault: FaultRecord = { kind, atMs: 0, wallAt: Date.now(), detail: "", recoveryMs: null };
  switch (kind) {
    case "kill": {
      const victim = await fleet.killRandom();
      fault.pid = victim?.pid;
      // A replacement, as an orchestrator would start; the run does not wait for it.
      fleet.start().catch((error: unknown) => log(`a replacement worker failed: ${String(error)}`));
      fault.detail = `worker ${victim?.index} (pid ${victim?.pid}) SIGKILLed, another started`;
      break;
    }
    case "terminate":
      fault.detail = `${await db.terminateBackends()} connections terminated`;
      break;
    case "restart":
    case "crash": {
      const downMs = await db.restart(kind === "crash" ? "immediate" : "fast");
      fault.detail = `${kind === "crash" ? "immediate shutdown" : "fast shutdown"}, down ${Math.round(downMs)} ms`;
      break;
    }
  }
  return fault;
}

/** Probes until one completes; the time that took, or null past the limit. */
export async function recover(producer: Producer): Promise<number | null> {
  const from = Date.now();
  while (Date.now() - from < RECOVERY_LIMIT_MS) {
    const left = RECOVERY_LIMIT_MS - (Date.now() - from);
    let timer: NodeJS.Timeout | undefined;
    const probe = await Promise.race([
      producer.probe(),
      new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), left))),
    ]);
    clearTimeout(timer);
    if (probe?.completed.state === "resolved") return probe.completed.at - from;
    // The send failed (the producer's connections were cut too): try again shortly.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return null;
}

/** For each kill: the jobs the worker was running, and when the last one was done by another. */
export async function countOrphans(db: ChaosDatabase, faults: FaultRecord[]): Promise<void> {
  for (const fault of faults) {
    if (fault.kind !== "kill" || fault.pid === undefined) continue;
    const [row] = await db.sql<[{ jobs: number; lastAt: Date | null }]>`
      select count(distinct r.job_id)::integer as jobs, max(c.at) as "lastAt"
      from chaos.runs r
      join chaos.completions c on c.job_id = r.job_id
      where r.pid = ${fault.pid} and (c.result ->> 'pid')::integer <> ${fault.pid}`;
    fault.orphans = {
      jobs: row.jobs,
      backAfterMs: row.lastAt ? row.lastAt.getTime() - fault.wallAt : null,
    };
  }
}
