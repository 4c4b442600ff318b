/** Starting child processes (lib/child.ts) and talking to them. */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import type { Counts, FromChild, Outcome, Task, ToChild } from "./types.ts";
import { rate } from "./stats.ts";
import { analyzeSchema } from "./adapters/sql.ts";
import { serverCpuReader } from "./server-cpu.ts";
import { walPositionReader } from "./server-wal.ts";

const CHILD = fileURLToPath(new URL("./child.ts", import.meta.url));
const BENCH_DIR = fileURLToPath(new URL("..", import.meta.url));

export class Child {
  private readonly process: ChildProcess;
  private readonly inbox: FromChild[] = [];
  private waiters: Array<() => void> = [];
  private exited = false;
  readonly exit: Promise<number | null>;
  /** Called for every progress message, as it comes. */
  onProgress: (count: number) => void = () => undefined;

  constructor(node: string) {
    this.process = fork(CHILD, [], {
      execPath: node,
      execArgv: ["--import", "tsx"],
      cwd: BENCH_DIR,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.process.on("message", (message: FromChild) => {
      if (message.type === "progress") return this.onProgress(message.count);
      this.inbox.push(message);
      this.wake();
    });
    this.exit = new Promise((resolve) =>
      this.process.on("exit", (code) => {
        this.exited = true;
        this.wake();
        resolve(code);
      }),
    );
  }

  private wake(): void {
    this.waiters.splice(0).forEach((wake) => wake());
  }

  send(message: ToChild): void {
    if (!this.exited) this.process.send(message);
  }

  /** The next message of `type`; rejects on an `error` message, an exit, or after `timeoutMs`. */
  async receive<T extends FromChild["type"]>(
    type: T,
    timeoutMs: number,
  ): Promise<Extract<FromChild, { type: T }>> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const failure = this.inbox.find((message) => message.type === "error");
      if (failure && failure.type === "error") throw new Error(failure.message);
      const index = this.inbox.findIndex((message) => message.type === type);
      if (index >= 0) return this.inbox.splice(index, 1)[0] as Extract<FromChild, { type: T }>;
      if (this.exited) throw new Error(`the child process exited while waiting for "${type}"`);
      const left = deadline - performance.now();
      if (left <= 0) {
        this.kill();
        throw new Error(
          `no "${type}" from the child process in ${Math.round(timeoutMs / 1000)} s: killed it (a hang?)`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  kill(): void {
    if (!this.exited) this.process.kill("SIGKILL");
  }

  async close(): Promise<void> {
    this.send({ type: "exit" });
    const timer = setTimeout(() => this.kill(), 30_000);
    await this.exit;
    clearTimeout(timer);
  }
}

/** Runs a task that answers with one result. */
export async function runTask(node: string, task: Task, timeoutMs: number): Promise<Outcome> {
  const child = new Child(node);
  try {
    child.send({ type: "task", task });
    const { outcome } = await child.receive("result", timeoutMs);
    await child.close();
    return outcome;
  } finally {
    child.kill();
  }
}

/**
 * Runs `measured` while `processes` worker processes drain `task.jobs` pre-queued jobs of the same
 * library in `task.schema` at full speed (the load), then stops them. The load is not measured
 * or verified: it only has to be running for the whole of `measured`; `loadRunning` says whether
 * it still was when `measured` ended.
 */
export async function underLoad(
  node: string,
  task: Task,
  processes: number,
  timeoutMs: number,
  measured: () => Promise<Outcome>,
): Promise<Outcome & { loadRunning: boolean }> {
  const { children, counts } = await readyDrainWorkers(node, task, processes, timeoutMs, true);
  try {
    children.forEach((child) => child.send({ type: "go" }));
    const sum = (): number => counts.reduce((a, b) => a + b, 0);
    // The load's own pace during the measurement: a latency under load means little without it.
    const start = { at: performance.now(), done: sum() };
    const outcome = await measured();
    const loadPerSecond = ((sum() - start.done) * 1000) / (performance.now() - start.at);
    const loadRunning = sum() < task.jobs;
    return { ...outcome, loadPerSecond, loadRunning };
  } finally {
    children.forEach((child) => child.kill());
  }
}

/**
 * Queues `task.jobs` jobs (a `prepare` child, untimed), then starts `processes` drain workers and
 * waits until each is connected and ready; `counts[k]` follows worker k's progress once it is
 * told to go. The workers are killed if one fails to get ready.
 */
async function readyDrainWorkers(
  node: string,
  task: Task,
  processes: number,
  timeoutMs: number,
  analyze = false,
): Promise<{ children: Child[]; counts: number[] }> {
  await runTask(node, { ...task, kind: "prepare" }, timeoutMs);
  // A deep backlog is analyzed first, as autovacuum would have done in production: without
  // statistics some libraries' claims read every queued job (graphile-worker's 400,000-job load
  // drained 137-365 jobs/s), and the latency under load would be measured under no load at all.
  if (analyze) await analyzeSchema(task.url, task.schema);
  const children = Array.from({ length: processes }, () => new Child(node));
  const counts = new Array<number>(processes).fill(0);
  try {
    children.forEach((child, k) => {
      child.onProgress = (count) => (counts[k] = count);
      child.send({ type: "task", task: { ...task, kind: "drain-worker" } });
    });
    for (const child of children) await child.receive("ready", timeoutMs);
  } catch (error) {
    children.forEach((child) => child.kill());
    throw error;
  }
  return { children, counts };
}

/**
 * Drains `task.jobs` pre-queued jobs with `processes` worker processes: a `prepare` child queues
 * them (in bulk, untimed) and exits; the workers connect and say ready; the clock starts when they
 * are told to go and stops when the handlers have run every job and the database shows none
 * unfinished (so acks count). Past the cap, or when it clearly cannot finish in time, the drain
 * is stopped and measured over what ran.
 */
export async function runDrain(
  node: string,
  task: Task,
  processes: number,
  timeoutMs: number,
): Promise<Outcome> {
  const { children, counts } = await readyDrainWorkers(node, task, processes, timeoutMs);
  const serverCpu = await serverCpuReader(task.url);
  const wal = walPositionReader(task.url);
  try {
    const walAtStart = await wal.read();
    const serverCpuAtStart = serverCpu?.();
    const start = performance.now();
    children.forEach((child) => child.send({ type: "go" }));
    const sum = (): number => counts.reduce((a, b) => a + b, 0);
    let hopeless = false;
    for (;;) {
      const elapsed = performance.now() - start;
      if (sum() >= task.jobs) break;
      // Clearly unable to finish within the cap: measure what ran instead of waiting.
      hopeless =
        elapsed > Math.min(5_000, task.capMs) &&
        (task.jobs * elapsed) / Math.max(1, sum()) > task.capMs;
      if (elapsed > task.capMs || hopeless) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    let end: number;
    let ranInTime: number;
    if (sum() >= task.jobs) {
      children[0]!.send({ type: "finish", expected: task.jobs });
      await children[0]!.receive("drained", timeoutMs);
      end = performance.now();
      ranInTime = task.jobs;
    } else {
      end = performance.now();
      ranInTime = sum();
    }
    const serverMicros =
      serverCpu && serverCpuAtStart !== undefined ? serverCpu() - serverCpuAtStart : undefined;
    const walBytes = (await wal.read()) - walAtStart;
    children.forEach((child) => child.send({ type: "stop" }));
    const stopped = [];
    for (const child of children) stopped.push(await child.receive("stopped", timeoutMs));
    children.forEach((child) => child.send({ type: "counts" }));
    const answers = [];
    for (const child of children) answers.push(await child.receive("counts", timeoutMs));
    const left = answers[0]!.counts;
    await Promise.all(children.map((child) => child.close()));
    const verified = verifyDrain(task.jobs, stopped, left);
    const done = new Set(stopped.flatMap((s) => s.indexes)).size;
    const cpuMicros = stopped.reduce((total, s) => total + s.cpuMicros, 0);
    return {
      ...rate(task.jobs, ranInTime, end - start),
      partial: ranInTime < task.jobs,
      cpuMicrosPerJob: Math.round(cpuMicros / Math.max(1, done)),
      serverCpuMicrosPerJob:
        serverMicros === undefined ? undefined : Math.round(serverMicros / Math.max(1, ranInTime)),
      walBytesPerJob: Math.round(walBytes / Math.max(1, ranInTime)),
      verified,
    };
  } finally {
    children.forEach((child) => child.kill());
    await wal.end();
  }
}

function verifyDrain(
  jobs: number,
  stopped: Array<{ indexes: number[]; duplicates: number }>,
  left: Counts,
): string {
  const within = stopped.reduce((total, s) => total + s.duplicates, 0);
  const all = stopped.flatMap((s) => s.indexes);
  const union = new Set(all);
  const across = all.length - union.size;
  const fail = (message: string): never => {
    throw new Error(`VERIFICATION FAILED: ${message}`);
  };
  if (within > 0) fail(`${within} jobs ran twice (or were never sent) within one process`);
  if (across > 0) fail(`${across} jobs ran in two processes`);
  if (left.failed > 0) fail(`${left.failed} jobs failed or were cancelled`);
  if (left.unfinished !== jobs - union.size)
    fail(
      `${union.size} of ${jobs} jobs ran but ${left.unfinished} are unfinished (lost or not acked: ${jobs - union.size - left.unfinished})`,
    );
  return union.size === jobs
    ? `${jobs} jobs ran exactly once across ${stopped.length} process(es); none unfinished or failed`
    : `${union.size} of ${jobs} jobs ran exactly once across ${stopped.length} process(es); the other ${left.unfinished} still queued; none failed`;
}
