/**
 * Prometheus metrics of one client, served at `GET /metrics`. They are read from two sources
 * only: the client's events (counters and histograms, per process) and one stats query per
 * scrape (`client.queues()`, gauges for the whole schema). Nothing is threaded through the core.
 *
 * Gauges, read at scrape time with one query (every client of a schema reports the same values:
 * aggregate them across replicas with `max`, not `sum`):
 *
 * - `pgwake_jobs{queue,state}`: jobs by queue and public state (`queued`, `running`,
 *   `completed`, `failed`, `cancelled`). `queued` includes delayed jobs and jobs waiting for
 *   their dependencies; finished jobs count until retention deletes them.
 * - `pgwake_jobs_delayed{queue}`: of the queued jobs, those waiting for their `runAt` or for a
 *   retry's backoff.
 * - `pgwake_jobs_waiting{queue}`: of the queued jobs, those waiting for their dependencies
 *   (`after`).
 * - `pgwake_up`: 1 when the scrape's stats query succeeded; 0 when it failed (the database is
 *   unreachable, or the client closed), in which case the gauges above are left out and the
 *   counters are still served.
 *
 * Counters, from this client's events (per process: `sum` them across replicas):
 *
 * - `pgwake_jobs_sent_total{queue}`: jobs this client enqueued (`job:sent`), counting sends
 *   answered by a dedup key's existing job.
 * - `pgwake_jobs_completed_total{queue}`: jobs this client's consumers acked (`job:completed`).
 * - `pgwake_job_attempts_failed_total{queue}`: attempts this client's consumers nacked
 *   (`job:failed`): retried ones and last ones alike, so a job that failed three times counts
 *   three. Leases that expired (a consumer that died) are not counted here.
 * - `pgwake_listener_reconnects_total`: times the listener connection was lost and LISTENed
 *   again (`listener:reconnect`).
 * - `pgwake_notifications_total{channel}`: notifications received on the schema's channels
 *   (`ready`, `done`, `schedule`; `listener:notify`). Every client receives every NOTIFY of the
 *   schema, so this counts the NOTIFYs sent by all processes, the same on every replica.
 *
 * Histograms, from this client's events:
 *
 * - `pgwake_job_duration_seconds{queue}`: from claim to ack or nack, of each attempt this
 *   client's consumers settled (`job:completed` and `job:failed`).
 * - `pgwake_wake_latency_seconds{queue}`: how long each job this client claimed had been
 *   runnable (`job:claimed`, on the database clock): the wake-up latency while consumers are idle,
 *   the queueing delay while they are all busy. Buckets from 0.5 ms to 10 s.
 *
 * Each call has its own registry, never prom-client's global one, so two servers (or tests) in
 * one process do not collide. Node.js process metrics (`process_*`, `nodejs_*`) are left out
 * unless asked for with `processMetrics: true`, to keep scrapes small.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { Client } from "../client.js";
import type { ClientEvents } from "../runtime.js";
import { checkBoolean, checkOptions, invalid, optional } from "../util/checks.js";
import type { MetricsSource } from "./handler.js";

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /**
   * Also prom-client's default Node.js metrics (CPU, memory, event loop lag, GC) in this
   * registry. Default false. Their collectors cannot be stopped: enable them once per process.
   */
  processMetrics?: boolean;
  /** Told why a scrape's stats query failed (`pgwake_up` is then 0). Default: nothing. */
  onError?: (error: unknown) => void;
}

/** Prometheus metrics of one client. */
export interface Metrics extends MetricsSource {
  /** The registry behind `render`, to add metrics of your own to the same scrape. */
  readonly registry: Registry;
  /** Stops listening to the client's events (the counters keep their values). */
  close(): void;
}

const JOB_STATES = ["queued", "running", "completed", "failed", "cancelled"] as const;

/** Seconds; jobs run from milliseconds to hours. */
const DURATION_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
];

/** Seconds; a NOTIFY wake-up takes about a millisecond, so the low end is fine-grained. */
const WAKE_LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/**
 * Prometheus metrics of `client` (see the list at the top of this file), in a registry of their
 * own. Call `close()` when done, to stop listening to the client.
 *
 * @example
 * ```ts
 * const metrics = createMetrics(client);
 * const handler = createHandler(client, { metrics });
 * const text = await metrics.render(); // the exposition text, one stats query
 * metrics.close();
 * ```
 */
export function createMetrics(client: Client, options?: MetricsOptions): Metrics {
  const checked = checkOptions<MetricsOptions>(options, "metrics options", [
    "processMetrics",
    "onError",
  ]);
  const processMetrics = optional(checked.processMetrics, false, (value) =>
    checkBoolean(value, "metrics options.processMetrics"),
  );
  const onError = optional(
    checked.onError,
    () => undefined,
    (value) => {
      if (typeof value !== "function") invalid("metrics options.onError", "a function", value);
      return value as (error: unknown) => void;
    },
  );
  const registry = new Registry();
  if (processMetrics) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const jobs = new Gauge({
    name: "pgwake_jobs",
    help: "Jobs by queue and public state (queued includes delayed and waiting), read at scrape time",
    labelNames: ["queue", "state"] as const,
    registers,
  });
  const delayed = new Gauge({
    name: "pgwake_jobs_delayed",
    help: "Queued jobs waiting for their runAt or a retry's backoff, read at scrape time",
    labelNames: ["queue"] as const,
    registers,
  });
  const waiting = new Gauge({
    name: "pgwake_jobs_waiting",
    help: "Queued jobs waiting for their dependencies (after), read at scrape time",
    labelNames: ["queue"] as const,
    registers,
  });
  const up = new Gauge({
    name: "pgwake_up",
    help: "1 when the scrape's stats query succeeded, 0 when it failed (job gauges left out)",
    registers,
  });
  const sent = new Counter({
    name: "pgwake_jobs_sent_total",
    help: "Jobs enqueued by this client (including sends answered by a dedup key)",
    labelNames: ["queue"] as const,
    registers,
  });
  const completed = new Counter({
    name: "pgwake_jobs_completed_total",
    help: "Jobs acked by this client's consumers",
    labelNames: ["queue"] as const,
    registers,
  });
  const failed = new Counter({
    name: "pgwake_job_attempts_failed_total",
    help: "Attempts nacked by this client's consumers (retried or failed for good)",
    labelNames: ["queue"] as const,
    registers,
  });
  const reconnects = new Counter({
    name: "pgwake_listener_reconnects_total",
    help: "Times the listener lost its connection and LISTENed again",
    registers,
  });
  const notifications = new Counter({
    name: "pgwake_notifications_total",
    help: "Notifications received on the schema's channels (every client receives every one)",
    labelNames: ["channel"] as const,
    registers,
  });
  const duration = new Histogram({
    name: "pgwake_job_duration_seconds",
    help: "Time from claim to ack or nack of the attempts this client's consumers settled",
    labelNames: ["queue"] as const,
    buckets: DURATION_BUCKETS,
    registers,
  });
  const wakeLatency = new Histogram({
    name: "pgwake_wake_latency_seconds",
    help: "How long each job this client claimed had been runnable (database clock)",
    labelNames: ["queue"] as const,
    buckets: WAKE_LATENCY_BUCKETS,
    registers,
  });

  const unsubscribe = subscribe(client, {
    "job:sent": ({ queue, count }) => sent.inc({ queue }, count),
    "job:claimed": ({ queue, waitedMs }) => wakeLatency.observe({ queue }, waitedMs / 1000),
    "job:completed": ({ queue, durationMs }) => {
      completed.inc({ queue });
      duration.observe({ queue }, durationMs / 1000);
    },
    "job:failed": ({ queue, durationMs }) => {
      failed.inc({ queue });
      duration.observe({ queue }, durationMs / 1000);
    },
    "listener:reconnect": () => reconnects.inc(),
    "listener:notify": ({ kind }) => notifications.inc({ channel: kind }),
  });

  /** Reads the gauges (one query) and renders everything. */
  const scrape = async (): Promise<string> => {
    const queues = await client.queues().catch((error: unknown) => void onError(error));
    // Set from scratch: a deleted queue's series disappear, and a failed read shows no stale ones.
    for (const gauge of [jobs, delayed, waiting]) gauge.reset();
    for (const q of queues ?? []) {
      for (const state of JOB_STATES) jobs.set({ queue: q.name, state }, q.counts[state]);
      delayed.set({ queue: q.name }, q.delayed);
      waiting.set({ queue: q.name }, q.waiting);
    }
    up.set(queues ? 1 : 0);
    return registry.metrics();
  };
  // Concurrent scrapes share one query and one rendering, so neither sees the other half-set.
  let scraping: Promise<string> | undefined;

  return {
    registry,
    contentType: registry.contentType,
    render: () => {
      scraping ??= scrape().finally(() => {
        scraping = undefined;
      });
      return scraping;
    },
    close: unsubscribe,
  };
}

type Listeners = {
  [E in keyof ClientEvents]?: (...args: ClientEvents[E]) => void;
};

/** Subscribes each listener to its event; returns the function that unsubscribes them all. */
function subscribe(client: Client, listeners: Listeners): () => void {
  const entries = Object.entries(listeners) as Array<
    [keyof ClientEvents, (...args: unknown[]) => void]
  >;
  for (const [event, listener] of entries) client.on(event, listener as never);
  return () => {
    for (const [event, listener] of entries) client.off(event, listener as never);
  };
}
