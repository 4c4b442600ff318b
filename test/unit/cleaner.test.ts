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
