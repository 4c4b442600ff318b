/**
 * One pass over everything that waits on notifications in the normal path, for setups where
 * notifications travel differently (poll mode, a transaction pooler): workers and `receive()`
 * being woken, `completed` handles settling across clients, delayed jobs, a bounded queue's
 * waiting sends, and a cancellation reaching a running handler. Every job is counted.
 */
import assert from "node:assert/strict";
import { JobCancelledError, QueueFullError, type Client } from "../../src/index.js";
import { signal, within } from "./db.js";

const WAIT_MS = 30_000;

/** `producer` sends, `worker` works; they are separate clients (separate listeners, or none). */
export async function exerciseQueueFlow(producer: Client, worker: Client): Promise<void> {
  await sendWorkComplete(producer, worker);
  await delayedJob(producer, worker);
  await receiveLoop(producer, worker);
  await boundedQueue(producer, worker);
  await cancelRunning(producer, worker);
}

async function sendWorkComplete(producer: Client, worker: Client): Promise<void> {
  const q = await producer.createQueue<number, number>("flow");
  const runs = new Map<number, number>();
  const stopped = worker.queue<number, number>("flow").work(
    async (job) => {
      runs.set(job.payload, (runs.get(job.payload) ?? 0) + 1);
      return job.payload * 2;
    },
    { concurrency: 4 },
  );
  const sends = Array.from({ length: 50 }, (_, i) => q.send(i));
  const results = await within(
    Promise.all(sends.map((sent) => sent.completed)),
    WAIT_MS,
    "50 jobs to complete",
  );
  assert.deepEqual(
    results,
    Array.from({ length: 50 }, (_, i) => i * 2),
  );
  assert.equal(runs.size, 50, "every job ran");
  assert.deepEqual(
    [...runs.values()].filter((n) => n !== 1),
    [],
    "no job ran twice",
  );
  // A late asker from the other client: the job finished already.
  assert.equal(await worker.queue("flow").completion(await sends[7]!), 14);
  await within(stopped.stop(), WAIT_MS, "the flow worker to stop");
}

async function delayedJob(producer: Client, worker: Client): Promise<void> {
  const q = await producer.createQueue<number, number>("flow-delayed");
  let ranAt = 0;
  const stopped = worker.queue<number, number>("flow-delayed").work(async (job) => {
    ranAt = Date.now();
    return job.payload;
  });
  const sentAt = Date.now();
  const sent = q.send(5, { delay: 500 });
  assert.equal(await within(sent.completed, WAIT_MS, "the delayed job to complete"), 5);
  // The database holds the job until it is due; this process's clock can only be a bit off.
  assert.ok(ranAt - sentAt >= 400, `the delayed job ran ${ranAt - sentAt}ms after its send`);
  await within(stopped.stop(), WAIT_MS, "the delayed-job worker to stop");
}

async function receiveLoop(producer: Client, worker: Client): Promise<void> {
  const q = await producer.createQueue<string, string>("flow-pulled");
  const controller = new AbortController();
  const received: string[] = [];
  const loop = (async () => {
    for await (const job of worker.queue<string, string>("flow-pulled").receive({
      signal: controller.signal,
    })) {
      received.push(job.payload);
      await job.ack(job.payload.toUpperCase());
    }
  })();
  const results = await within(
    Promise.all(["a", "b", "c"].map((letter) => q.send(letter).completed)),
    WAIT_MS,
    "receive() to get and ack three jobs",
  );
  assert.deepEqual(results, ["A", "B", "C"]);
  controller.abort();
  await within(loop, WAIT_MS, "the receive() loop to end");
  assert.deepEqual(received.sort(), ["a", "b", "c"]);
}

async function boundedQueue(producer: Client, worker: Client): Promise<void> {
  const q = await producer.createQueue<number, number>("flow-bounded", { maxSize: 2 });
  await within(Promise.all([q.send(1), q.send(2)]), WAIT_MS, "two sends to a bounded queue");
  await assert.rejects(q.send(3, { timeout: 300 }), QueueFullError);
  // These wait for room, which only a worker finishing jobs can make.
  const waiting = [4, 5, 6].map((n) => q.send(n));
  const runs: number[] = [];
  const stopped = worker.queue<number, number>("flow-bounded").work(async (job) => {
    runs.push(job.payload);
    return job.payload;
  });
  assert.deepEqual(
    await within(
      Promise.all(waiting.map((sent) => sent.completed)),
      WAIT_MS,
      "the waiting sends to land and complete",
    ),
    [4, 5, 6],
  );
  await within(stopped.stop(), WAIT_MS, "the bounded-queue worker to stop");
  assert.deepEqual(
    runs.sort((a, b) => a - b),
    [1, 2, 4, 5, 6],
    "every job that got in ran once; the one that gave up was never written",
  );
}

async function cancelRunning(producer: Client, worker: Client): Promise<void> {
  // A long lease: its heartbeats (every third of it) would find the cancellation only after
  // 20 s, so a handler told sooner was told by a `done` notification or by polling.
  const q = await producer.createQueue<number, string>("flow-cancel", { leaseTime: "60s" });
  const started = signal();
  const reason = signal<unknown>();
  const stopped = worker.queue<number, string>("flow-cancel").work(async (job) => {
    started.resolve();
    await new Promise((resolve) => job.signal.addEventListener("abort", resolve, { once: true }));
    reason.resolve(job.signal.reason);
    return "stopped";
  });
  const sent = q.send(1);
  await within(started.promise, WAIT_MS, "the handler to start");
  assert.equal(await sent.cancel(), true);
  await assert.rejects(within(sent.completed, WAIT_MS, "the cancelled job's completion"), (e) => {
    assert.ok(e instanceof JobCancelledError, String(e));
    return true;
  });
  const why = await within(reason.promise, 10_000, "the running handler to see the cancel");
  assert.ok(why instanceof JobCancelledError, `the handler's signal gave ${String(why)}`);
  await within(stopped.stop(), WAIT_MS, "the cancel worker to stop");
}
