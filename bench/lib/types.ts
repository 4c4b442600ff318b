/** What the orchestrator (run.ts) and the child processes (child.ts) share. */

export const LIBRARIES = ["pgwake", "graphile-worker", "pg-boss"] as const;
export type Library = (typeof LIBRARIES)[number];

/** `default`: the library's defaults (plus the workload's concurrency); `fast`: its documented fast settings. */
export const SETTINGS = ["default", "fast"] as const;
export type Setting = (typeof SETTINGS)[number];

/** A job's payload in every workload: its index, and for latency workloads when it was sent. */
export interface Payload {
  i: number;
  /** `performance.timeOrigin + performance.now()` when the producer called send. */
  t?: number;
}

/** How many of the unfinished and failed jobs the database holds for the benchmark's queue. */
export interface Counts {
  unfinished: number;
  failed: number;
}

export interface Running {
  stop(): Promise<void>;
}

/**
 * One library under one setting, in one schema. Every method is the library's public API, except
 * `drop`, `counts` and `storedIndexes`, which read or drop the library's tables with plain SQL to
 * verify what happened (outside every timed section).
 */
export interface Adapter {
  /** Drops the schema (when `fresh`), installs the library there and creates the queue. */
  open(fresh: boolean): Promise<void>;
  sendOne(payload: Payload): Promise<string>;
  sendBulk(payloads: Payload[]): Promise<string[]>;
  /** Starts workers with the workload's concurrency; `handler` runs for each job. */
  work(handler: (payload: Payload) => void): Promise<Running>;
  /** Sends a job and resolves once the producer learns that it completed. */
  roundTrip(payload: Payload): Promise<void>;
  counts(): Promise<Counts>;
  /** The payload index of every job stored for the queue, finished or not. */
  storedIndexes(): Promise<number[]>;
  close(): Promise<void>;
}

export interface AdapterOptions {
  url: string;
  schema: string;
  setting: Setting;
  concurrency: number;
}

/** What the settings are, for the report. */
export type SettingsDescription = Record<Library, Record<Setting, string>>;

export const WORKLOADS = [
  "enqueue-one",
  "enqueue-bulk",
  "drain-1",
  "drain-4",
  "wake",
  "wake-busy",
  "round-trip",
] as const;
export type Workload = (typeof WORKLOADS)[number];

/** A task for one child process. */
export interface Task {
  kind: "enqueue-one" | "enqueue-bulk" | "prepare" | "drain-worker" | "wake" | "round-trip";
  library: Library;
  setting: Setting;
  url: string;
  schema: string;
  jobs: number;
  concurrency: number;
  /** enqueue-one: producers; enqueue-bulk and prepare: jobs per call. */
  producers: number;
  bulkSize: number;
  /** wake: the jobs and the gap between sends. */
  wakeJobs: number;
  wakeGapMs: number;
  /** round-trip: how many, one after the other. */
  roundTrips: number;
  /** Give up on waiting after this long (the result is then marked partial). */
  capMs: number;
}

export interface Latency {
  /** Samples asked for. */
  n: number;
  /** Samples that arrived in time; the others count as slower than every arrived one. */
  arrived: number;
  /** Milliseconds; null when the samples that arrived in time do not reach this percentile. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

/** A child's answer, or a drain's outcome as the orchestrator assembles it. */
export interface Outcome {
  /** Jobs the workload was asked to handle. */
  jobs: number;
  /** Jobs it did handle (less than `jobs` when it hit its cap). */
  done: number;
  ms: number;
  perSecond: number;
  partial: boolean;
  /** Client CPU (user + system) per job, in microseconds, summed over the worker processes. */
  cpuMicrosPerJob?: number;
  /**
   * PostgreSQL's CPU per job over the drain (every `postgres` process: backends, autovacuum, WAL
   * writer), when the server runs on this machine.
   */
  serverCpuMicrosPerJob?: number;
  /** WAL PostgreSQL wrote per job over the drain (its insert position before and after). */
  walBytesPerJob?: number;
  latency?: Latency;
  /** Under load (wake-busy): the jobs per second the load drained while this was measured. */
  loadPerSecond?: number;
  /** What was checked, in words. */
  verified: string;
}

/** Messages between the orchestrator and a child. */
export type ToChild =
  | { type: "task"; task: Task }
  | { type: "go" }
  | { type: "finish"; expected: number }
  | { type: "stop" }
  | { type: "counts" }
  | { type: "exit" };

export type FromChild =
  | { type: "result"; outcome: Outcome }
  | { type: "ready" }
  | { type: "progress"; count: number }
  | { type: "drained" }
  | { type: "stopped"; indexes: number[]; duplicates: number; cpuMicros: number; node: string }
  | { type: "counts"; counts: Counts }
  | { type: "error"; message: string };
