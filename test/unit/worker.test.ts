import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConsumerHost } from "../../src/claimer.js";
import { Job, type JobHost } from "../../src/job.js";
import { Wakeups } from "../../src/notify/wakeups.js";
import { Worker } from "../../src/worker.js";
import { claimedRow } from "../helpers/claimed-row.js";

/**
 * An in-memory queue behind the worker's two hosts: no database is involved, only the worker's
 * own bookkeeping (how it asks for jobs), which a drain against PostgreSQL cannot count exactly.
 * `drain` runs a worker until it has handled every job, then stops it.
 */
function memoryQueue(
  size: number,
  claimMs: number | ((claim: number) => number),
  onClaim: () => void = () => undefined,
) {
  const queued = Array.from({ length: size }, (_, i) => `job-${i}`);
  const claims: number[] = [];
  let inFlight = 0;
  const stats = { mostInFlight: 0 };
  const acked = new Map<string, number>();
  const jobHost: JobHost = {
    maxPayloadBytes: 1024,
    complete: async (job) => {
      acked.set(job.id, (acked.get(job.id) ?? 0) + 1);
      return true;
    },
    fail: async () => assert.fail("no job fails"),
    release: () => undefined,
  };
  const wakeups = new Wakeups();
  const host: ConsumerHost = {
    wakeups,
    claim: async (queue, limit) => {
      claims.push(limit);
      onClaim();
      stats.mostInFlight = Math.max(stats.mostInFlight, ++inFlight);
      // As in PostgreSQL, the rows are taken when the statement runs; the answer comes later.
      const taken = queued.splice(0, limit);
      const ms = typeof claimMs === "number" ? claimMs : claimMs(claims.length);
      await new Promise((resolve) => setTimeout(resolve, ms));
      inFlight--;
      return taken.map((id) => new Job(queue, claimedRow(id), jobHost));
    },
    releaseUndelivered: async (jobs) => void queued.unshift(...jobs.map((job) => job.id)),
    failUnsettled: async () => assert.fail("every job is settled"),
    watchDeadlines: () => () => undefined,
    reportError: (error) => assert.fail(error as Error),
  };
  const drain = async (
    handler: (job: Job<unknown, unknown>) => Promise<void>,
    options: { concurrency: number; batch: number },
  ): Promise<void> => {
    const untrack = wakeups.track("q");
    let handled = 0;
    let allHandled!: () => void;
    const done = new Promise<void>((resolve) => (allHandled = resolve));
    const worker = new Worker(
      host,
      "q",
      async (job) => {
        await handler(job);
        if (++handled === size) allHandled();
      },
      { ...options, filter: null },
      new AbortController().signal,
    );
    await done;
    await worker.stop();
    untrack();
  };
  return { drain, claims, acked, stats };
}

test("a worker tops up its jobs claimed ahead in claims of many, not one claim per finished job", async () => {
  const size = 3000;
  const { drain, claims, acked } = memoryQueue(size, 2);
  let running = 0;
  let mostRunning = 0;
  await drain(
    async () => {
      mostRunning = Math.max(mostRunning, ++running);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
    },
    { concurrency: 10, batch: 1 },
  );

  assert.equal(acked.size, size, "every job acked");
  assert.ok(
    [...acked.values()].every((times) => times === 1),
    "none acked twice",
  );
  assert.ok(mostRunning <= 10, `at most 10 handlers at once, saw ${mostRunning}`);
  // One claim per finished job would be about 3,000 calls; topping up the buffer a quarter at a
  // time makes a few dozen.
  assert.ok(claims.length < size / 20, `${claims.length} claims for ${size} jobs`);
  assert.ok(
    claims.some((limit) => limit > 10),
    `claims ask for what the buffer lacks at once: ${claims.slice(0, 20).join(", ")}`,
  );
});

test("a worker whose batch exceeds what it keeps ahead still tops up while its handlers are busy", async () => {
  // Slow handlers (10 ms) and quick claims (1 ms): the worker keeps a few jobs ahead, fewer than
  // `batch`. Its buffer must still be topped up while every handler runs, not only once one
  // of them has gone idle and waits a claim's round trip.
  const size = 300;
  const concurrency = 10;
  let running = 0;
  let claimsWhileAllBusy = 0;
  const { drain, acked } = memoryQueue(size, 1, () => {
    if (running === concurrency) claimsWhileAllBusy++;
  });
  await drain(
    async () => {
      running++;
      await new Promise((resolve) => setTimeout(resolve, 10));
      running--;
    },
    { concurrency, batch: 50 },
  );
  assert.equal(acked.size, size, "every job acked once");
  assert.ok(claimsWhileAllBusy > 0, "some claims were made while every handler was busy");
});

test("one worker has one claim in flight at a time, so concurrency 1 runs jobs in queue order", async () => {
  // Claims whose answers come back out of order (every other one slow) would run a later job
  // first if a worker started a claim while another was in flight: the first holds the earlier
  // jobs (locked, in PostgreSQL) while the second takes the next ones and answers first.
  const size = 400;
  const { drain, acked, stats } = memoryQueue(size, (claim) => (claim % 2 === 1 ? 4 : 0));
  const order: string[] = [];
  await drain(
    async (job) => {
      order.push(job.id);
      await new Promise((resolve) => setTimeout(resolve, 1));
    },
    { concurrency: 1, batch: 1 },
  );
  assert.equal(acked.size, size, "every job acked once");
  assert.equal(stats.mostInFlight, 1, "claims in flight at once");
  assert.deepEqual(
    order,
    Array.from({ length: size }, (_, i) => `job-${i}`),
    "handlers ran in queue order",
  );
});
