/**
 * A chaos worker process: one pgwake client working the chaos queue, as an app replica would.
 * Run with --expose-gc so heap samples are taken after a collection.
 *
 * Env: DATABASE_URL, PGWAKE_SCHEMA, CHAOS_CONCURRENCY, CHAOS_WORK_MS (each handler takes up to
 * this long), CHAOS_POLL_MS (the safety poll; 0 turns it off). For diagnosis:
 * CHAOS_SIDE_TIMEOUT_MS (the handlers' limit on their own statements, default 5000), and
 * CHAOS_TRACE_TIMERS=1, with which a lingering worker also reports where each timer still
 * pending was set (async_hooks; it slows the worker).
 *
 * Talks JSON lines. Prints `ready`, then `acked` with the ids of jobs whose ack this process
 * applied (every 100 ms), `heap` when asked, and `stopped` with its counters when told to stop.
 * Reads `heap` and `stop` on stdin; stdin closing means the test died, and the worker exits.
 */
import type { Socket } from "node:net";
import { createInterface } from "node:readline";
import { createHook } from "node:async_hooks";
import postgres from "postgres";
import { socketOpener } from "../../src/db/socket.js";
import { connect, LeaseLostError, type Job } from "../../src/index.js";
import { digestOf, QUEUE, type ChaosPayload, type ChaosResult } from "./jobs.js";

/** Where each pending timer was set, with CHAOS_TRACE_TIMERS: what keeps a lingering worker. */
const timerStacks = new Map<number, string>();
if (process.env.CHAOS_TRACE_TIMERS) {
  createHook({
    init(id, type) {
      if (type === "Timeout") timerStacks.set(id, new Error().stack ?? "");
    },
    destroy(id) {
      timerStacks.delete(id);
    },
  }).enable();
}

const say = (message: object): void => void process.stdout.write(`${JSON.stringify(message)}\n`);
const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const url = env("DATABASE_URL");
const concurrency = Number(env("CHAOS_CONCURRENCY"));
const workMs = Number(env("CHAOS_WORK_MS"));
const pollMs = Number(env("CHAOS_POLL_MS"));

const counters = {
  executions: 0,
  handlerErrors: 0,
  /** Handler statements given up after {@link SIDE_TIMEOUT_MS} (see `side` below). */
  sideTimeouts: 0,
  acks: 0,
  leaseLost: 0,
  clientErrors: 0,
};
const errorCodes: Record<string, number> = {};

const client = await connect({
  url,
  schema: env("PGWAKE_SCHEMA"),
  pollInterval: pollMs > 0 ? pollMs : false,
  migrate: false,
});
// What the client goes through, for `npm run chaos -- --verbose`.
const trace = (what: string): void => say({ event: "trace", what, at: Date.now() });
client.on("listener:lost", () => trace("listener lost"));
client.on("listener:reconnect", ({ epoch }) => trace(`listener back (epoch ${epoch})`));
client.on("error", (error) => {
  trace(`error ${error.message.slice(0, 160)}`);
  counters.clientErrors++;
  if (error instanceof LeaseLostError) counters.leaseLost++;
  errorCodes[error.code] = (errorCodes[error.code] ?? 0) + 1;
});

let acked: string[] = [];
client.on("job:completed", ({ id }) => {
  counters.acks++;
  acked.push(id);
});
const flush = setInterval(() => {
  if (acked.length === 0) return;
  say({ event: "acked", ids: acked });
  acked = [];
}, 100);

// The handlers' own connections, as an app's would be: pgwake does not protect them. So they
// get what the README advises for a pool of one's own under postgres.js 3.4.9: no pipelining,
// and a time limit on each statement. A statement the driver hands a connection whose socket
// just failed is never answered (src/db/orphans.ts); without the limit its handler waited for
// good, the worker heartbeated the job for the rest of the run, and CI once failed with that job
// handed back only when the worker stopped.
const SIDE_TIMEOUT_MS = Number(process.env.CHAOS_SIDE_TIMEOUT_MS ?? 5000);
// Its sockets are opened through pgwake's opener (src/db/socket.ts) so that stop() can close
// them: postgres.js reopens a connection for a statement still queued in a pool it is ending (one
// given up below) and keeps it open after end() resolves, which kept a worker alive once in CI.
// The opener also finds at once a connection the driver left unable to log in.
const sideSockets = socketOpener();
/** The side pool's sockets, so that a lingering worker can say whether one of them is open. */
const sideOpened = new Set<Socket>();
const side = postgres(url, {
  max: concurrency,
  max_pipeline: 0,
  // A short, fixed wait between connection attempts. Once the pool has ended, each statement
  // still queued in it (one given up, below) fails on a connection attempt of its own, after the
  // driver's backoff, which grows to 20 s: the likely reason why workers that had given up
  // statements stayed alive past the check below, with two timers and no socket.
  backoff: () => 0.05,
  socket: async (options: Parameters<typeof sideSockets.open>[0]) => {
    const socket = await sideSockets.open(options);
    for (const old of sideOpened) if (old.destroyed) sideOpened.delete(old);
    sideOpened.add(socket);
    return socket;
  },
  onnotice: () => undefined,
  // postgres.js 3.4.9 drops the promise of its type fetch, so a connection cut during it (as
  // here, all the time) rejects unhandled and would crash this process: pgwake's pools skip the
  // fetch for that reason (src/db/pool-options.ts), and so does this one.
  fetch_types: false,
  connection: { application_name: "chaos handler" },
} as postgres.Options<Record<string, never>>);

/**
 * Side statements not yet answered. One given up stays queued in the driver, and postgres.js keeps
 * reconnecting an ending pool for a queued statement, so a worker stayed alive after its client
 * closed (CI, twice: once with a socket open, once, the sockets closed, with the reconnects'
 * timers). Each is cancelled when given up and at the stop, which takes it off the queue.
 */
const unanswered = new Set<postgres.PendingQuery<postgres.Row[]>>();
const cancel = (statement: postgres.PendingQuery<postgres.Row[]>): void =>
  void Promise.resolve(statement.cancel()).catch(() => undefined);

async function handle(job: Job<ChaosPayload, ChaosResult>): Promise<ChaosResult> {
  counters.executions++;
  let timer: NodeJS.Timeout | undefined;
  try {
    const insert = side`insert into chaos.runs (job_id, attempt, pid)
                        values (${job.id}, ${job.attempt}, ${process.pid})`;
    unanswered.add(insert);
    const answered = insert.execute().finally(() => unanswered.delete(insert));
    const giveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        counters.sideTimeouts++;
        cancel(insert);
        reject(new Error(`the handler's insert had no answer after ${SIDE_TIMEOUT_MS} ms`));
      }, SIDE_TIMEOUT_MS);
    });
    void answered.catch(() => undefined); // given up: its own end does not matter any more
    await Promise.race([answered, giveUp]);
  } catch (error) {
    counters.handlerErrors++;
    // Retried. A statement that was given up may still run later: the run row then counts as an
    // execution that did not complete the job, which at-least-once delivery allows.
    throw error;
  } finally {
    clearTimeout(timer);
  }
  await new Promise((resolve) => setTimeout(resolve, Math.random() * workMs));
  return { digest: digestOf(job.payload), attempt: job.attempt, pid: process.pid };
}

const worker = client.queue<ChaosPayload, ChaosResult>(QUEUE).work(handle, { concurrency });

function heap(): { heapUsed: number; rss: number } {
  (globalThis as { gc?: () => void }).gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  return { heapUsed, rss };
}

/** Whether the client's listener is connected (null: the health check itself did not answer). */
async function health(): Promise<boolean | null> {
  // A fault may have ended a moment before the run settled: the listener gets 5 s to be back
  // (it retries every second at most), as an orchestrator's health check would allow.
  const deadline = performance.now() + 5000;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(resolve, 5000, null)));
    const listening = await Promise.race([client.health().then((h) => h.listening), timeout]);
    clearTimeout(timer);
    if (listening !== false || performance.now() >= deadline) return listening;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (line === "heap")
    void health().then((listening) => say({ event: "heap", ...heap(), listening }));
  if (line === "stop") void stop();
});
// The test process died (stdin closed without "stop"): do not outlive it.
lines.on("close", () => {
  if (!stopping) process.exit(1);
});

let stopping = false;
async function stop(): Promise<void> {
  stopping = true;
  lines.close();
  process.stdin.destroy(); // read from once, it would keep the process alive
  await worker.stop({ timeout: 10_000 });
  await client.close({ timeout: 10_000 });
  clearInterval(flush);
  if (acked.length > 0) say({ event: "acked", ids: acked });
  for (const statement of unanswered) cancel(statement);
  await side.end({ timeout: 1 });
  sideSockets.close();
  say({ event: "stopped", ...counters, errorCodes, ...heap() });
  // A closed client must let the process exit by itself; say what keeps it alive if not. (The
  // side pool's last connection attempts may take a few seconds more; a strict check of
  // pgwake's own is test/fixtures/close-exits.ts.)
  setTimeout(() => {
    const sideOpen = [...sideOpened].filter((socket) => !socket.destroyed).length;
    say({
      event: "lingering",
      resources: [
        ...process.getActiveResourcesInfo(),
        `(side pool sockets open: ${sideOpen})`,
        ...[...timerStacks.values()].map((stack) => stack.split("\n").slice(2, 9).join(" | ")),
      ],
    });
    process.exit(3);
  }, 15_000).unref();
}

say({ event: "ready", pid: process.pid });
