/**
 * One child process: one library, one setting, one task. Started by run.ts with `fork`, it gets
 * its task over IPC, answers over IPC and exits; a process never runs two libraries, so one
 * library's timers and pools cannot slow another's measurement.
 */
import { performance } from "node:perf_hooks";
import type {
  Adapter,
  AdapterOptions,
  FromChild,
  Outcome,
  Payload,
  Task,
  ToChild,
} from "./types.ts";
import { latency, rate } from "./stats.ts";
import { sleep } from "./adapters/sql.ts";
import { walPositionReader } from "./server-wal.ts";

const send = (message: FromChild): void => {
  process.send!(message);
};
const now = (): number => performance.timeOrigin + performance.now();

/** Messages that arrive while a task waits for them. */
const inbox: ToChild[] = [];
const waiters: Array<() => void> = [];
process.on("message", (message: ToChild) => {
  inbox.push(message);
  waiters.splice(0).forEach((wake) => wake());
});
async function receive<T extends ToChild["type"]>(type: T): Promise<Extract<ToChild, { type: T }>> {
  for (;;) {
    const index = inbox.findIndex((message) => message.type === type);
    if (index >= 0) return inbox.splice(index, 1)[0] as Extract<ToChild, { type: T }>;
    await new Promise<void>((resolve) => waiters.push(resolve));
  }
}

async function adapterFor(task: Task): Promise<Adapter> {
  const options: AdapterOptions = {
    url: task.url,
    schema: task.schema,
    setting: task.setting,
    concurrency: task.concurrency,
  };
  const module = (await import(`./adapters/${task.library}.ts`)) as {
    create(options: AdapterOptions): Adapter;
  };
  return module.create(options);
}

/** Checks that `seen` holds each index of `expected` at most once and nothing else. */
class Tally {
  readonly seen: Uint8Array;
  count = 0;
  duplicates = 0;
  strays = 0;
  constructor(readonly size: number) {
    this.seen = new Uint8Array(size);
  }
  add(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.size) this.strays++;
    else if (this.seen[i]) this.duplicates++;
    else this.seen[i] = 1;
    this.count++;
  }
  indexes(): number[] {
    const out: number[] = [];
    this.seen.forEach((value, i) => value && out.push(i));
    return out;
  }
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`VERIFICATION FAILED: ${message}`);
}

/** The stored jobs are exactly 0..n-1, once each, and the ids returned to the producer distinct. */
async function verifyEnqueued(adapter: Adapter, jobs: number, ids: string[]): Promise<string> {
  check(ids.length === jobs, `${ids.length} ids returned for ${jobs} sends`);
  check(new Set(ids).size === jobs, `${jobs - new Set(ids).size} duplicate ids returned`);
  const stored = await adapter.storedIndexes();
  const tally = new Tally(jobs);
  stored.forEach((i) => tally.add(i));
  check(
    stored.length === jobs && tally.duplicates === 0 && tally.strays === 0,
    `${stored.length} jobs stored for ${jobs} sent (${tally.duplicates} duplicates, ${tally.strays} unknown)`,
  );
  return `${jobs} distinct ids; the table holds exactly payloads 0..${jobs - 1}, once each`;
}

/** After the workers stopped: every handled job once, the rest still unfinished, none failed. */
async function verifyHandled(adapter: Adapter, sent: number, tally: Tally): Promise<string> {
  check(tally.duplicates === 0, `${tally.duplicates} jobs ran twice`);
  check(tally.strays === 0, `${tally.strays} jobs that were never sent ran`);
  const counts = await adapter.counts();
  check(counts.failed === 0, `${counts.failed} jobs failed or were cancelled`);
  check(
    counts.unfinished === sent - tally.count,
    `${tally.count} of ${sent} jobs ran but ${counts.unfinished} are unfinished (lost or not acked: ${sent - tally.count - counts.unfinished})`,
  );
  return tally.count === sent
    ? `${sent} jobs ran exactly once; none unfinished or failed`
    : `${tally.count} of ${sent} jobs ran exactly once; the other ${counts.unfinished} still queued; none failed`;
}

/**
 * Times `enqueue` and reads the WAL the server wrote meanwhile (the run has the server to itself):
 * each enqueue's commit waits for that WAL to reach the disk.
 */
async function timedEnqueue(
  task: Task,
  adapter: Adapter,
  ids: string[],
  enqueue: () => Promise<void>,
): Promise<Outcome> {
  const wal = walPositionReader(task.url);
  try {
    const walAtStart = await wal.read();
    const start = performance.now();
    await enqueue();
    const ms = performance.now() - start;
    const walBytes = (await wal.read()) - walAtStart;
    return {
      ...rate(task.jobs, task.jobs, ms),
      walBytesPerJob: Math.round(walBytes / task.jobs),
      verified: await verifyEnqueued(adapter, task.jobs, ids),
    };
  } finally {
    await wal.end();
  }
}

async function enqueueOne(adapter: Adapter, task: Task): Promise<Outcome> {
  await adapter.open(true);
  const ids: string[] = new Array<string>(task.jobs);
  let next = 0;
  return timedEnqueue(task, adapter, ids, async () => {
    await Promise.all(
      Array.from({ length: task.producers }, async () => {
        for (let i = next++; i < task.jobs; i = next++) ids[i] = await adapter.sendOne({ i });
      }),
    );
  });
}

async function enqueueBulk(adapter: Adapter, task: Task): Promise<Outcome> {
  await adapter.open(true);
  const ids: string[] = [];
  return timedEnqueue(task, adapter, ids, async () => {
    for (let from = 0; from < task.jobs; from += task.bulkSize) {
      const payloads = Array.from(
        { length: Math.min(task.bulkSize, task.jobs - from) },
        (_, k) => ({ i: from + k }),
      );
      ids.push(...(await adapter.sendBulk(payloads)));
    }
  });
}

async function prepare(adapter: Adapter, task: Task): Promise<Outcome> {
  await adapter.open(true);
  const ids: string[] = [];
  for (let from = 0; from < task.jobs; from += task.bulkSize) {
    const payloads = Array.from({ length: Math.min(task.bulkSize, task.jobs - from) }, (_, k) => ({
      i: from + k,
    }));
    ids.push(...(await adapter.sendBulk(payloads)));
  }
  return {
    ...rate(task.jobs, task.jobs, 0),
    verified: await verifyEnqueued(adapter, task.jobs, ids),
  };
}

/**
 * A drain worker: connects, says ready, starts working on `go`, reports progress, and on `finish`
 * (sent to one worker once the handlers ran every job) waits until the database shows no
 * unfinished job; on `stop` it stops and hands back what it ran.
 */
async function drainWorker(adapter: Adapter, task: Task): Promise<void> {
  await adapter.open(false);
  const tally = new Tally(task.jobs);
  send({ type: "ready" });
  await receive("go");
  const cpu = process.cpuUsage();
  const running = await adapter.work((payload) => tally.add(payload.i));
  let reported = -1;
  const progress = setInterval(() => {
    if (tally.count !== reported) send({ type: "progress", count: (reported = tally.count) });
  }, 20);
  void receive("finish").then(async () => {
    while ((await adapter.counts()).unfinished > 0) await sleep(5);
    send({ type: "drained" });
  });
  await receive("stop");
  const used = process.cpuUsage(cpu);
  clearInterval(progress);
  await running.stop();
  send({
    type: "stopped",
    indexes: tally.indexes(),
    duplicates: tally.duplicates + tally.strays,
    cpuMicros: used.user + used.system,
    node: process.version,
  });
  await receive("counts");
  send({ type: "counts", counts: await adapter.counts() });
}

async function wake(adapter: Adapter, task: Task): Promise<Outcome> {
  await adapter.open(true);
  const tally = new Tally(task.wakeJobs);
  const latencies: number[] = [];
  let allStarted!: () => void;
  const started = new Promise<void>((resolve) => (allStarted = resolve));
  const running = await adapter.work((payload) => {
    latencies.push(now() - payload.t!);
    tally.add(payload.i);
    if (tally.count === task.wakeJobs) allStarted();
  });
  await sleep(1000); // idle first: started, connected, waiting
  const sends: Array<Promise<string>> = [];
  const start = performance.now();
  for (let i = 0; i < task.wakeJobs; i++) {
    sends.push(adapter.sendOne({ i, t: now() }));
    await sleep(task.wakeGapMs);
  }
  await Promise.all(sends);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    started,
    new Promise((resolve) => (timer = setTimeout(resolve, task.capMs))),
  ]);
  clearTimeout(timer);
  const ms = performance.now() - start;
  // The last handler has started, not necessarily acked: give the acks up to 5 s to land (after
  // the timing) so that a library that stops without finishing them is not counted as losing one.
  const settleBy = performance.now() + 5000;
  while (
    performance.now() < settleBy &&
    (await adapter.counts()).unfinished > task.wakeJobs - tally.count
  ) {
    await sleep(20);
  }
  await running.stop();
  const verified = await verifyHandled(adapter, task.wakeJobs, tally);
  return {
    ...rate(task.wakeJobs, tally.count, ms),
    partial: tally.count < task.wakeJobs,
    latency: latency(latencies, task.wakeJobs),
    verified,
  };
}

async function roundTrip(adapter: Adapter, task: Task): Promise<Outcome> {
  await adapter.open(true);
  const tally = new Tally(task.roundTrips);
  const running = await adapter.work((payload) => tally.add(payload.i));
  await sleep(500);
  const latencies: number[] = [];
  const start = performance.now();
  for (let i = 0; i < task.roundTrips && performance.now() - start < task.capMs; i++) {
    const sent = performance.now();
    await adapter.roundTrip({ i });
    latencies.push(performance.now() - sent);
  }
  const ms = performance.now() - start;
  await running.stop();
  const verified = await verifyHandled(adapter, latencies.length, tally);
  return {
    ...rate(task.roundTrips, latencies.length, ms),
    partial: latencies.length < task.roundTrips,
    latency: latency(latencies, latencies.length),
    verified,
  };
}

async function main(): Promise<void> {
  const { task } = await receive("task");
  const adapter = await adapterFor(task);
  try {
    switch (task.kind) {
      case "enqueue-one":
        send({ type: "result", outcome: await enqueueOne(adapter, task) });
        break;
      case "enqueue-bulk":
        send({ type: "result", outcome: await enqueueBulk(adapter, task) });
        break;
      case "prepare":
        send({ type: "result", outcome: await prepare(adapter, task) });
        break;
      case "drain-worker":
        await drainWorker(adapter, task);
        break;
      case "wake":
        send({ type: "result", outcome: await wake(adapter, task) });
        break;
      case "round-trip":
        send({ type: "result", outcome: await roundTrip(adapter, task) });
        break;
    }
  } finally {
    await adapter.close();
  }
  await receive("exit");
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    send({ type: "error", message });
    setTimeout(() => process.exit(1), 100);
  },
);
