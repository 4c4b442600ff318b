/**
 * The chaos test's worker processes (test/chaos/worker.ts): starts them, SIGKILLs them, asks them
 * for heap samples, stops them, and collects which jobs each one acked.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));

export interface WorkerSettings {
  url: string;
  schema: string;
  concurrency: number;
  workMs: number;
  pollMs: number;
}

export interface HeapSample {
  heapUsed: number;
  rss: number;
  /** Whether the worker's client was listening (null: its health check did not answer). */
  listening: boolean | null;
}

/** What a worker reports when it stops gracefully. */
export interface WorkerCounters extends HeapSample {
  executions: number;
  handlerErrors: number;
  /** Handler statements on the workers' own pools given up as unanswered. */
  sideTimeouts: number;
  acks: number;
  leaseLost: number;
  clientErrors: number;
  errorCodes: Record<string, number>;
  /** What kept the process alive after its client closed, if something did. */
  lingering?: string[];
}

type Message = Record<string, unknown> & { event: string };

export class WorkerProcess {
  readonly exited: Promise<void>;
  /** Set once it was SIGKILLed or exited by itself. */
  gone = false;
  killed = false;
  /** Its client connected: an exit from now on, neither killed nor asked for, is a crash. */
  ready = false;
  stopping = false;
  private readonly waiters = new Map<string, Array<(message: Message) => void>>();
  private stderr = "";

  constructor(
    readonly index: number,
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly onAcked: (ids: string[], worker: WorkerProcess) => void,
    private readonly onTrace: (line: string) => void,
    private readonly onCrash: (worker: WorkerProcess, code: number | null, stderr: string) => void,
  ) {
    child.stderr.on("data", (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-8000);
    });
    createInterface({ input: child.stdout }).on("line", (line) => this.onLine(line));
    this.exited = new Promise((resolve) =>
      child.on("exit", (code) => {
        this.gone = true;
        if (this.ready && !this.killed && !this.stopping) this.onCrash(this, code, this.stderr);
        for (const waiting of this.waiters.values()) waiting.length = 0;
        resolve();
      }),
    );
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** The next message of this kind; rejects if the process exits first or `ms` pass. */
  next(event: string, ms: number): Promise<Message> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`worker ${this.index} sent no "${event}" within ${ms}ms`)),
        ms,
      );
      const list = this.waiters.get(event) ?? [];
      list.push((message) => {
        clearTimeout(timer);
        resolve(message);
      });
      this.waiters.set(event, list);
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`worker ${this.index} exited before "${event}"; stderr:\n${this.stderr}`));
      });
    });
  }

  send(command: string): void {
    if (!this.gone) this.child.stdin.write(`${command}\n`);
  }

  kill(): void {
    this.killed = true;
    this.child.kill("SIGKILL");
  }

  async heap(): Promise<HeapSample> {
    const reply = this.next("heap", 30_000);
    this.send("heap");
    const { heapUsed, rss, listening } = (await reply) as unknown as HeapSample;
    return { heapUsed, rss, listening };
  }

  async stop(): Promise<WorkerCounters> {
    this.stopping = true;
    const reply = this.next("stopped", 60_000);
    this.send("stop");
    const counters = (await reply) as unknown as WorkerCounters;
    const lingering = this.next("lingering", 60_000).catch(() => undefined);
    const message = await Promise.race([this.exited, lingering]);
    if (message) counters.lingering = message.resources as string[];
    await this.exited;
    return counters;
  }

  private onLine(line: string): void {
    let message: Message;
    try {
      message = JSON.parse(line) as Message;
    } catch {
      return; // not a message (a stray console line)
    }
    if (message.event === "ready") this.ready = true;
    if (message.event === "acked") this.onAcked(message.ids as string[], this);
    if (message.event === "trace") this.onTrace(`worker ${this.index}: ${String(message.what)}`);
    const waiting = this.waiters.get(message.event);
    waiting?.shift()?.(message);
  }
}

export class Fleet {
  readonly all: WorkerProcess[] = [];
  /** Job id → how many acks workers reported applied for it (must never exceed 1). */
  readonly acks = new Map<string, number>();
  /** Workers that died on their own, with the end of what they printed to stderr. */
  readonly crashes: Array<{ worker: number; pid: number; code: number | null; stderr: string }> =
    [];
  /** Set at the end of the run: crashed workers are no longer replaced. */
  closing = false;

  constructor(
    private readonly settings: WorkerSettings,
    /** What the workers' clients go through (listener lost and back, errors), line by line. */
    private readonly onTrace: (line: string) => void = () => undefined,
  ) {}

  get alive(): WorkerProcess[] {
    return this.all.filter((worker) => !worker.gone);
  }

  /**
   * Starts a worker and waits until its client is connected. `connect` fails while the database
   * is down (it is the one call that does not wait), so a start is tried again, as an
   * orchestrator would restart a replica that exited.
   */
  async start(): Promise<WorkerProcess> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.startOnce();
      } catch (error) {
        if (attempt >= 5) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  private async startOnce(): Promise<WorkerProcess> {
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", WORKER], {
      env: {
        ...process.env,
        DATABASE_URL: this.settings.url,
        PGWAKE_SCHEMA: this.settings.schema,
        CHAOS_CONCURRENCY: String(this.settings.concurrency),
        CHAOS_WORK_MS: String(this.settings.workMs),
        CHAOS_POLL_MS: String(this.settings.pollMs),
      },
      stdio: ["pipe", "pipe", "pipe"],
    });
    const worker = new WorkerProcess(
      this.all.length,
      child,
      (ids) => {
        for (const id of ids) this.acks.set(id, (this.acks.get(id) ?? 0) + 1);
      },
      this.onTrace,
      (crashed, code, stderr) => {
        this.crashes.push({ worker: crashed.index, pid: crashed.pid, code, stderr });
        this.onTrace(`worker ${crashed.index} crashed (exit code ${code})`);
        // As an orchestrator would: a crashed replica is replaced.
        if (!this.closing) this.start().catch(() => undefined);
      },
    );
    this.all.push(worker);
    await worker.next("ready", 60_000);
    return worker;
  }

  /**
   * SIGKILLs a random live worker, never the first one: it lives through the whole run, so its
   * memory can be compared from start to end. Resolves once the victim is dead.
   */
  async killRandom(): Promise<WorkerProcess | undefined> {
    const alive = this.alive.filter((worker) => worker.index !== 0);
    const victim = alive[Math.floor(Math.random() * alive.length)];
    if (!victim) return undefined;
    victim.kill();
    await victim.exited;
    return victim;
  }

  /** Kills whatever is still running (after a failure). */
  killAll(): void {
    for (const worker of this.alive) worker.kill();
  }
}
