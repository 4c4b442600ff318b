import assert from "node:assert/strict";
import { test } from "node:test";
import { Cleaner } from "../../src/services/cleaner.js";

test("the cleaner grows its batches while they come back full and quick, to keep up", async () => {
  let expired = 60_000;
  const limits: number[] = [];
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  const cleaner = new Cleaner(
    {
      dueIn: async () => (expired > 0 ? 0 : null),
      retentions: async () => new Map([["q", 1000]]),
      deleteBatch: async (limit) => {
        limits.push(limit);
        const deleted = Math.min(limit, expired);
        expired -= deleted;
        if (expired === 0) finished();
        return { allowed: true, deleted };
      },
    },
    (error) => assert.fail(String(error)),
  );
  const keepAlive = setTimeout(() => assert.fail("not cleaned within 20 s"), 20_000);
  cleaner.refresh();
  await done;
  clearTimeout(keepAlive);
  cleaner.stop();
  assert.equal(limits[0], 500);
  assert.equal(Math.max(...limits), 5000);
  assert.ok(limits.length < 30, `${limits.length} batches for 60,000 jobs`);
});

test("stopping the cleaner between two batches ends its pause: no timer outlives it", async () => {
  const timers = new Set<NodeJS.Timeout>();
  const { setTimeout: set, clearTimeout: clear } = globalThis;
  globalThis.setTimeout = ((callback: () => void, ms?: number) => {
    const timer: NodeJS.Timeout = set(() => {
      timers.delete(timer);
      callback();
    }, ms);
    timers.add(timer);
    return timer;
  }) as typeof setTimeout;
  globalThis.clearTimeout = ((timer: NodeJS.Timeout) => {
    timers.delete(timer);
    clear(timer);
  }) as typeof clearTimeout;
  try {
    let batches = 0;
    let secondBatch!: () => void;
    const paused = new Promise<void>((resolve) => (secondBatch = resolve));
    const cleaner = new Cleaner(
      {
        dueIn: async () => 0,
        retentions: async () => new Map([["q", 1000]]),
        deleteBatch: async (limit) => {
          if (++batches === 1) setImmediate(secondBatch); // stop while the pause runs
          return { allowed: true, deleted: limit }; // always full: another batch follows
        },
      },
      (error) => assert.fail(String(error)),
    );
    // The cleaner's timers are unref'd: keep the test alive meanwhile (with the untracked timer).
    const keepAlive = set(() => assert.fail("no second batch within 5 s"), 5000);
    cleaner.refresh();
    await paused;
    cleaner.stop();
    clear(keepAlive);
    assert.equal(timers.size, 0, "the pause's timer is cleared with the cleaner");
    await new Promise((resolve) => set(resolve, 50)); // past the 20 ms pause
    assert.equal(batches, 1, "no batch after stop()");
  } finally {
    globalThis.setTimeout = set;
    globalThis.clearTimeout = clear;
  }
});
