import assert from "node:assert/strict";
import { test } from "node:test";
import { OrphanGuard } from "../../src/db/orphans.js";
import { isConnectionError } from "../../src/errors.js";
import { deferred } from "../../src/util/deferred.js";

test("a statement pending past its grace after a close beside it is given up, once", async () => {
  let orphans = 0;
  const guard = new OrphanGuard(() => orphans++);
  const statement = deferred<number>();
  const watched = guard.watch(statement.promise, 20);
  guard.closed();
  guard.closed(); // a second close does not move the deadline or count twice
  const error = await watched.catch((e: unknown) => e);
  assert.ok(isConnectionError(error), String(error));
  assert.match(String(error), /after a connection closed beside it/);
  assert.equal(orphans, 1);
  assert.equal(guard.size, 0);
  statement.resolve(1); // a late answer changes nothing
  assert.equal(orphans, 1);
});

test("a statement that answers within its grace keeps its own outcome", async () => {
  let orphans = 0;
  const guard = new OrphanGuard(() => orphans++);
  const ok = deferred<string>();
  const failing = deferred<string>();
  const answered = guard.watch(ok.promise, 10_000);
  const refused = guard.watch(failing.promise, 10_000);
  guard.closed();
  ok.resolve("rows");
  failing.reject(new Error("refused by the server"));
  assert.equal(await answered, "rows");
  await assert.rejects(refused, /refused by the server/);
  assert.equal(guard.size, 0);
  guard.stop();
  assert.equal(orphans, 0);
});

test("only statements started just before a close are suspects", async () => {
  // A window of 100 ms, not a few: a pause (a collection on a busy machine) between the watch
  // and the close below must not make the recent statement look old and leave it unwatched.
  const guard = new OrphanGuard(undefined, 100);
  const old = deferred<string>();
  const early = guard.watch(old.promise, 10);
  let earlySettled = false;
  void early.then(
    () => (earlySettled = true),
    () => (earlySettled = true),
  );
  const started = performance.now();
  while (performance.now() - started < 150) await new Promise((resolve) => setImmediate(resolve));
  const recent = guard.watch(deferred<string>().promise, 10);
  guard.closed();
  await assert.rejects(recent, (error) => isConnectionError(error));
  assert.equal(earlySettled, false, "a statement older than the window is left alone");
  old.resolve("late but fine");
  assert.equal(await early, "late but fine");
  guard.stop();
});
