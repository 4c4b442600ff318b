import assert from "node:assert/strict";
import { test } from "node:test";
import { Claims } from "../../src/claims.js";
import { claimedRow as row } from "../helpers/claimed-row.js";

test("claims of one turn share one statement, each getting at most its share, in order", async () => {
  const statements: number[] = [];
  const claims = new Claims(
    {
      claimJobs: async (_queue, limit) => {
        statements.push(limit);
        return { rows: ["a", "b", "c", "d"].slice(0, limit).map(row), more: false };
      },
    },
    () => assert.fail("no recheck: nothing is locked"),
  );
  const [first, second, third] = await Promise.all([
    claims.claim("q", 2, null, "me"),
    claims.claim("q", 1, null, "me"),
    claims.claim("q", 3, null, "me"),
  ]);
  assert.deepEqual(statements, [6], "one statement for all three");
  assert.deepEqual(
    [first, second, third].map((rows) => rows.map((r) => r.id)),
    [["a", "b"], ["c"], ["d"]],
  );
  claims.stop();
});

test("a short claim that left runnable (locked) jobs behind asks for a recheck", async () => {
  let rechecked!: (queue: string) => void;
  const recheck = new Promise<string>((resolve) => (rechecked = resolve));
  const claims = new Claims({ claimJobs: async () => ({ rows: [], more: true }) }, (queue) =>
    rechecked(queue),
  );
  assert.deepEqual(await claims.claim("busy", 1, null, "me"), []);
  // The recheck timer is unref'd: keep the test alive while waiting for it.
  const keepAlive = setTimeout(() => assert.fail("no recheck within 2 s"), 2000);
  assert.equal(await recheck, "busy");
  clearTimeout(keepAlive);
  claims.stop();
});
