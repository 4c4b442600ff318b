import assert from "node:assert/strict";
import { test } from "node:test";
import { OrphanGuard } from "../../src/db/orphans.js";
import { Pool } from "../../src/db/pool.js";
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
  const guard = new OrphanGuard(undefined, 5);
  const old = deferred<string>();
  const early = guard.watch(old.promise, 10);
  let earlySettled = false;
  void early.then(
    () => (earlySettled = true),
    () => (earlySettled = true),
  );
  const started = performance.now();
  while (performance.now() - started < 20) await new Promise((resolve) => setImmediate(resolve));
  const recent = guard.watch(deferred<string>().promise, 10);
  guard.closed();
  await assert.rejects(recent, (error) => isConnectionError(error));
  assert.equal(earlySettled, false, "a statement older than the window is left alone");
  old.resolve("late but fine");
  assert.equal(await early, "late but fine");
  guard.stop();
});

test("a close beside a statement just started is reported at once; one beside older ones is not", () => {
  let suspects = 0;
  const guard = new OrphanGuard(undefined, 5, () => suspects++);
  guard.closed();
  assert.equal(suspects, 0, "no statement pending");
  const statement = deferred<string>();
  void guard.watch(statement.promise, 60_000).catch(() => undefined);
  guard.closed();
  assert.equal(suspects, 1);
  guard.closed(); // still pending, still recent: each close beside it is reported
  assert.equal(suspects, 2);
  statement.resolve("done");
  guard.stop();
});

test("a pool pgwake made is replaced as soon as a connection closes beside a fresh statement", async () => {
  const made: Array<{ onclose: () => void; ended: number | undefined }> = [];
  const pool = new Pool(undefined, (onclose) => {
    const entry = { onclose, ended: undefined as number | undefined };
    made.push(entry);
    return {
      unsafe: () => ({ values: () => Promise.resolve([]) }),
      end: ({ timeout }: { timeout: number }) => ((entry.ended = timeout), Promise.resolve()),
    } as unknown as ReturnType<ConstructorParameters<typeof Pool>[1]>;
  });
  made[0]!.onclose(); // nothing pending: a connection's ordinary end
  assert.equal(made.length, 1);
  const statement = deferred<string>();
  const watched = pool.orphans.watch(statement.promise, 60_000);
  made[0]!.onclose();
  assert.equal(made.length, 2, "new statements go to a new pool at once, not after the grace");
  // The old pool's statements get longer than the connect timeout (10 s) to end by themselves.
  assert.equal(made[0]!.ended, 15);
  made[1]!.onclose(); // at most one renewal every few seconds
  assert.equal(made.length, 2);
  statement.resolve("answered");
  assert.equal(await watched, "answered");
  await pool.end();
  assert.equal(made[1]!.ended, 5);
});
