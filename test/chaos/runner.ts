/**
 * The chaos run, shared by the short version in `npm test` (test/chaos/chaos.test.ts) and the
 * long one (`npm run chaos`, test/chaos/main.ts).
 *
 * On a PostgreSQL of its own (it restarts it), worker processes (test/chaos/worker.ts) work jobs
 * that this process sends at a steady pace, while faults are injected one at a time
 * (test/chaos/faults.ts): a worker SIGKILLed (and a new one started), every client connection
 * terminated with `pg_terminate_backend`, PostgreSQL restarted (fast shutdown) or crashed
 * (immediate shutdown, then crash recovery). After each fault a probe job (high priority, so it
 * does not wait behind the backlog) is sent until one completes: the time from the end of the
 * fault to that completion is the time to recover. Then every promise is checked
 * (test/chaos/verify.ts).
 */
import { connect, type Client, type Queue } from "../../src/index.js";
import { ChaosDatabase } from "./database.js";
import { countOrphans, inject, plan, recover, type FaultKind, type FaultRecord } from "./faults.js";
import { Fleet, type HeapSample, type WorkerCounters, type WorkerProcess } from "./fleet.js";
import { createSideTables, QUEUE, type ChaosPayload, type ChaosResult } from "./jobs.js";
import { Producer, type SentRecord } from "./producer.js";
import { describe, verify, type Verdict } from "./verify.js";

export { FAULT_KINDS, type FaultKind, type FaultRecord } from "./faults.js";

export interface ChaosOptions {
  /** Jobs to send, spread over `durationMs` (probes come on top). */
  jobs: number;
  /** Worker processes running at any time. */
  workers: number;
  /** Handlers per worker. */
  concurrency: number;
  durationMs: number;
  leaseMs: number;
  /** A handler takes up to this long (uniformly random). */
  workMs: number;
  /** The clients' safety poll; 0 turns it off, so recovery must come from the client itself. */
  pollMs: number;
  /** Faults spread evenly over the run, in this order; or `random`, one every `faultEveryMs`. */
  faults: FaultKind[] | "random";
  faultEveryMs: number;
  /** How long to wait for every `completed` once sending ended. */
  settleMs: number;
  /**
   * The clients' `connect_timeout` in seconds (in their URL), or undefined for the driver's 30 s.
   * It bounds the stall of a pool connection that postgres.js 3.4.9 leaves unable to write after
   * its socket closed mid-write (see README, Chaos test).
   */
  connectTimeoutS?: number;
  log(line: string): void;
  /** Every client's listener losses, reconnects and errors, as they happen (noisy). */
  trace?(line: string): void;
}

export interface ChaosReport {
  options: Omit<ChaosOptions, "log" | "trace">;
  /** The URL the clients used (with the private server's port). */
  url: string;
  serverVersion: string;
  elapsedMs: number;
  faults: FaultRecord[];
  verdict: Verdict;
  /** Workers alive from the first fault to the end: heap after a collection, then and at the end. */
  memory: Array<{ worker: number; pid: number; start: HeapSample; end: HeapSample }>;
  workers: WorkerCounters[];
  producerErrors: Record<string, number>;
  /** The sends that took longest to settle (send, then `completed`): where slow recovery shows. */
  slowest: Array<{ n: number; sentAtMs: number; tookMs: number | null; outcome: string }>;
}

const SCHEMA = "pgwake";

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  // An unhandled rejection here would end the run without a verdict: it becomes a problem.
  const unhandled: unknown[] = [];
  const onUnhandled = (error: unknown): void => void unhandled.push(error);
  process.on("unhandledRejection", onUnhandled);
  const run = new ChaosRun(await ChaosDatabase.start(), options);
  try {
    return await run.execute(unhandled);
  } finally {
    process.off("unhandledRejection", onUnhandled);
    await run.close();
  }
}

class ChaosRun {
  private readonly fleet: Fleet;
  private client: Client | undefined;
  private readonly producerErrors: Record<string, number> = {};
  /** What the clients connect with. */
  private readonly url: string;

  constructor(
    private readonly db: ChaosDatabase,
    private readonly options: ChaosOptions,
  ) {
    const url = new URL(db.url);
    if (options.connectTimeoutS !== undefined) {
      url.searchParams.set("connect_timeout", String(options.connectTimeoutS));
    }
    this.url = url.toString();
    this.fleet = new Fleet(
      {
        url: this.url,
        schema: SCHEMA,
        concurrency: options.concurrency,
        workMs: options.workMs,
        pollMs: options.pollMs,
      },
      options.trace,
    );
  }

  async execute(unhandled: unknown[]): Promise<ChaosReport> {
    const { options, fleet, db } = this;
    const queue = await this.setUp();
    const [{ version }] = await db.sql<[{ version: string }]>`
      select current_setting('server_version') as version`;
    options.log(`PostgreSQL ${version} (embedded, private) at ${this.url}`);
    await Promise.all(Array.from({ length: options.workers }, () => fleet.start()));
    options.log(`${options.workers} workers ready`);

    const producer = new Producer(queue);
    const warm = await producer.probe();
    if (warm.completed.state !== "resolved") throw new Error("the first job did not complete");
    const started = performance.now();
    const { faults, baseline } = await this.sendThroughFaults(producer, started);
    options.log(`${producer.records.length} jobs sent; waiting for every completion`);
    await producer.settled(options.settleMs);
    const elapsedMs = performance.now() - started;
    options.log(`settled after ${(elapsedMs / 1000).toFixed(1)}s; stopping workers`);

    fleet.closing = true;
    const survivors = fleet.alive.filter((worker) => baseline.has(worker));
    const endHeaps = await sampleHeaps(survivors);
    const counters = await Promise.all(fleet.alive.map((worker) => worker.stop()));
    const verdict = await verify(db.sql, SCHEMA, producer.records, fleet.acks);
    verdict.problems.push(...this.processProblems(endHeaps, counters, unhandled));
    await countOrphans(db, faults);
    const { log: _log, trace: _trace, ...shown } = options;
    return {
      options: shown,
      url: this.url,
      serverVersion: version,
      elapsedMs,
      faults,
      verdict,
      memory: survivors.map((worker) => ({
        worker: worker.index,
        pid: worker.pid,
        start: baseline.get(worker)!,
        end: endHeaps.get(worker)!,
      })),
      workers: counters,
      producerErrors: this.producerErrors,
      slowest: slowest(producer.records),
    };
  }

  async close(): Promise<void> {
    this.fleet.closing = true;
    this.fleet.killAll();
    await this.client?.close({ timeout: 1000 }).catch(() => undefined);
    await this.db.stop();
  }

  /** The producer's client, the queue, and the side tables. */
  private async setUp(): Promise<Queue<ChaosPayload, ChaosResult>> {
    const { options } = this;
    const client = await connect({
      url: this.url,
      schema: SCHEMA,
      pollInterval: options.pollMs > 0 ? options.pollMs : false,
    });
    this.client = client;
    client.on("error", (error) => {
      this.producerErrors[error.code] = (this.producerErrors[error.code] ?? 0) + 1;
      options.trace?.(`producer: error ${error.message.slice(0, 160)}`);
    });
    client.on("listener:lost", () => options.trace?.("producer: listener lost"));
    client.on("listener:reconnect", ({ epoch }) =>
      options.trace?.(`producer: listener back (epoch ${epoch})`),
    );
    const queue = await client.createQueue<ChaosPayload, ChaosResult>(QUEUE, {
      leaseTime: options.leaseMs,
      // Faults cost attempts (a kill, a lease lapsed while the database was down); none may run
      // out, or jobs would fail rather than complete.
      maxAttempts: 1000,
      backoff: { delay: 50, factor: 2, max: 1000 },
    });
    await createSideTables(this.db.sql, SCHEMA);
    return queue;
  }

  /**
   * Sends the jobs while the faults happen, one at a time, each followed by probes until one
   * completes. The heap baseline is taken just before the first fault, once the workers are warm.
   */
  private async sendThroughFaults(
    producer: Producer,
    started: number,
  ): Promise<{ faults: FaultRecord[]; baseline: Map<WorkerProcess, HeapSample> }> {
    const { options, fleet, db } = this;
    const stopSending = new AbortController();
    const sending = producer.paced(options.jobs, options.durationMs, stopSending.signal);
    let baseline: Map<WorkerProcess, HeapSample> | undefined;
    const faults: FaultRecord[] = [];
    try {
      for (const [at, kind] of plan(options.faults, options.durationMs, options.faultEveryMs)) {
        await sleepUntil(started + at);
        baseline ??= await sampleHeaps(fleet.alive);
        options.trace?.(`fault: ${kind}`);
        const fault = await inject(kind, db, fleet, options.log);
        options.trace?.(`fault over: ${fault.detail}`);
        fault.atMs = at;
        fault.recoveryMs = await recover(producer);
        const took = fault.recoveryMs === null ? "—" : `${(fault.recoveryMs / 1000).toFixed(2)}s`;
        options.log(`${(at / 1000).toFixed(1)}s ${kind}: ${fault.detail}; recovered in ${took}`);
        faults.push(fault);
      }
      await sending;
    } finally {
      stopSending.abort();
      await sending;
    }
    return { faults, baseline: baseline ?? (await sampleHeaps(fleet.alive)) };
  }

  /** What went wrong with the processes themselves, rather than with the jobs. */
  private processProblems(
    endHeaps: Map<WorkerProcess, HeapSample>,
    counters: WorkerCounters[],
    unhandled: unknown[],
  ): string[] {
    const problems: string[] = [];
    for (const [worker, heap] of endHeaps) {
      if (heap.listening !== true) {
        problems.push(`worker ${worker.index} was not listening at the end (${heap.listening})`);
      }
    }
    for (const crash of this.fleet.crashes) {
      const last = crash.stderr.trim().split("\n").slice(-30).join("\n    ");
      problems.push(
        `worker ${crash.worker} (pid ${crash.pid}) crashed with exit code ${crash.code}:\n    ${last}`,
      );
    }
    for (const error of unhandled) {
      problems.push(`an unhandled rejection in the producer process: ${describe(error)}`);
    }
    for (const worker of counters) {
      if (worker.lingering) {
        problems.push(
          `a worker did not exit after closing its client: ${worker.lingering.join(", ")}`,
        );
      }
    }
    return problems;
  }
}

async function sampleHeaps(workers: WorkerProcess[]): Promise<Map<WorkerProcess, HeapSample>> {
  const samples = await Promise.all(workers.map(async (w) => [w, await w.heap()] as const));
  return new Map(samples);
}

function sleepUntil(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - performance.now())));
}

/** The three sends whose `completed` took longest to settle. */
function slowest(records: SentRecord[]): ChaosReport["slowest"] {
  const first = records[0]?.sentAt ?? 0;
  const took = (r: SentRecord): number | null =>
    r.completed.state === "pending" ? null : r.completed.at - r.sentAt;
  return [...records]
    .sort((a, b) => (took(b) ?? Infinity) - (took(a) ?? Infinity))
    .slice(0, 3)
    .map((r) => ({
      n: r.payload.n,
      sentAtMs: r.sentAt - first,
      tookMs: took(r),
      outcome:
        `send ${r.send.state}, completed ` +
        (r.completed.state === "rejected"
          ? `rejected (${describe(r.completed.error)})`
          : r.completed.state),
    }));
}
