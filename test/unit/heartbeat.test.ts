import assert from "node:assert/strict";
import { test } from "node:test";
import { Heartbeat } from "../../src/services/heartbeat.js";

test("a second lease on the same job replaces the first, which counts as lost", async () => {
  const beats: string[][] = [];
  const heartbeat = new Heartbeat(
    async (leases) => {
      beats.push(leases.map((l) => l.token));
      return new Set(leases.map((l) => l.id));
    },
    (error) => assert.fail(String(error)),
  );
  let firstLost = false;
  heartbeat.hold({ id: "job", token: "first", leaseMs: 90, onLost: () => (firstLost = true) });
  heartbeat.hold({
    id: "job",
    token: "second",
    leaseMs: 90,
    onLost: () => assert.fail("the live lease"),
  });
  assert.equal(firstLost, true);
  heartbeat.drop({ id: "job", token: "first" }); // the stale delivery settles: must not drop the live lease
  assert.equal(heartbeat.size, 1);
  await new Promise((resolve) => setTimeout(resolve, 80)); // two beats of a 90 ms lease
  assert.ok(
    beats.length >= 1 && beats.every((b) => b.length === 1 && b[0] === "second"),
    JSON.stringify(beats),
  );
  heartbeat.drop({ id: "job", token: "second" });
  assert.equal(heartbeat.size, 0);
  heartbeat.stop();
});

test("a beat that does not find a lease reports it lost, once", async () => {
  const lost: string[] = [];
  const heartbeat = new Heartbeat(
    async () => new Set(["kept"]),
    (error) => assert.fail(String(error)),
  );
  heartbeat.hold({ id: "kept", token: "a", leaseMs: 60, onLost: () => lost.push("kept") });
  heartbeat.hold({ id: "gone", token: "b", leaseMs: 60, onLost: () => lost.push("gone") });
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(lost, ["gone"]);
  assert.equal(heartbeat.size, 1);
  heartbeat.stop();
});

test("a beat that answers after stop() reports nothing lost (the client closed meanwhile)", async () => {
  let started!: () => void;
  const beatStarted = new Promise<void>((resolve) => (started = resolve));
  let answer!: (alive: Set<string>) => void;
  const heartbeat = new Heartbeat(
    () => {
      started();
      return new Promise<Set<string>>((resolve) => (answer = resolve));
    },
    (error) => assert.fail(String(error)),
  );
  const lost: string[] = [];
  heartbeat.hold({ id: "job", token: "t", leaseMs: 30, onLost: () => lost.push("job") });
  // The heartbeat's timers are unref'd: keep the test alive while waiting for the first beat.
  const keepAlive = setTimeout(() => assert.fail("no beat within 2 s"), 2000);
  await beatStarted;
  clearTimeout(keepAlive);
  heartbeat.stop();
  answer(new Set()); // the job was acked while the beat was under way
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(lost, [], "no lease reported lost after stop");
});

test("a shorter lease held after a longer one moves the next beat earlier", async () => {
  const beaten: string[] = [];
  let firstBeat!: () => void;
  const beat = new Promise<void>((resolve) => (firstBeat = resolve));
  const heartbeat = new Heartbeat(
    async (leases) => {
      beaten.push(...leases.map((l) => l.id));
      firstBeat();
      return new Set(leases.map((l) => l.id));
    },
    (error) => assert.fail(String(error)),
  );
  const started = performance.now();
  heartbeat.hold({ id: "long", token: "a", leaseMs: 60_000, onLost: () => assert.fail("long") });
  heartbeat.hold({ id: "short", token: "b", leaseMs: 90, onLost: () => assert.fail("short") });
  const keepAlive = setTimeout(() => assert.fail("no beat within 10 s"), 10_000); // beat timers are unref'd
  await beat; // due after 30 ms, not after the long lease's 20 s
  clearTimeout(keepAlive);
  assert.ok(performance.now() - started < 10_000);
  assert.deepEqual(beaten, ["short"]);
  heartbeat.stop();
});
