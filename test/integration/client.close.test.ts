import assert from "node:assert/strict";
import { Client, ClientClosedError, type Job } from "../../src/index.js";
import { startChild } from "../helpers/child.js";
import {
  dbTest,
  signal,
  until,
  untilWaitingForLock,
  within,
  type DbContext,
} from "../helpers/db.js";

dbTest(
  "a script that closes its client exits by itself (no open handles)",
  async ({ url, schema, defer }) => {
    const child = startChild("close-exits", { DATABASE_URL: url, PGWAKE_SCHEMA: schema });
    defer(() => child.process.kill("SIGKILL"));
    const closed = await within(child.next("closed"), 20_000, "the script to close its client");
    assert.equal(closed.result, "bye");
    assert.equal(await within(child.exited, 5000, "the process to exit on its own"), 0);
  },
);

dbTest("close lets a running handler finish and writes its ack", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue<number>("graceful");
  const started = signal<Job<number>>();
  let finish!: () => void;
  q.work(async (job) => {
    started.resolve(job);
    await new Promise<void>((resolve) => (finish = resolve));
    return job.payload + 1;
  });
  const id = await q.send(41);
  const job = await within(started.promise, 5000, "the job to start");
  const closing = client.close();
  assert.ok(job.signal.aborted, "the handler is told the worker is stopping");
  finish();
  await within(closing, 5000, "close");
  const other = await (
    await import("../../src/index.js")
  ).connect({ url: process.env.DATABASE_URL!, schema: client.schema, pollInterval: false });
  try {
    assert.equal((await other.queue("graceful").get(id))?.result, 42);
  } finally {
    await other.close();
  }
});

dbTest(
  "after close, calls reject with ClientClosedError and waiting handles settle",
  async ({ connect }) => {
    const client = await connect();
    const q = await client.createQueue("closed");
    const waiting = q.send("x", { delay: "1h" }).completed;
    const sent = q.send("y");
    await sent;
    // A send waiting for room in a full bounded queue: closing ends the notifications that
    // would have brought it, so it settles too.
    const full = await client.createQueue("full", { maxSize: 1 });
    await full.send(1);
    const blocked = full.send(2).then(
      () => "written",
      (error: unknown) => error,
    );
    await client.close();
    await assert.rejects(waiting, ClientClosedError);
    assert.ok((await within(blocked, 5000, "the blocked send")) instanceof ClientClosedError);
    // A completion asked for after the close settles at once, as one asked for before did.
    await assert.rejects(
      within(sent.completed, 5000, "a completed read after close"),
      ClientClosedError,
    );
    await assert.rejects(
      q.send(1),
      (e: unknown) => e instanceof ClientClosedError && /connect\(\)/.test(e.message),
    );
    await assert.rejects(q.stats(), ClientClosedError);
    await assert.rejects(client.createQueue("again"), ClientClosedError);
    assert.throws(() => q.work(async () => 1), ClientClosedError);
    await client.close(); // twice is fine
  },
);

dbTest(
  "close gives up on a handler that never returns after its timeout, and the job goes back",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<number>("stuck");
    const started = signal();
    q.work(async () => {
      started.resolve();
      await new Promise(() => undefined); // never settles, ignores its signal
    });
    const id = await q.send(1);
    await within(started.promise, 5000, "the handler to start");
    const before = performance.now();
    await within(client.close({ timeout: 300 }), 5000, "close to give up waiting");
    assert.ok(performance.now() - before >= 250, "it waited for the handler first");
    const [row] = await admin.unsafe(
      `select state::text, attempt from "${schema}"._jobs where id = $1`,
      [id],
    );
    assert.deepEqual({ ...row }, { state: "queued", attempt: 1 }, "straight back to the queue");
  },
);

/**
 * A `receive()` loop whose claim waits on a lock the test holds on the jobs table (after the
 * queue's first tick, so that the claim is the only statement held up). `release` lets it go.
 */
async function claimHeldByLock({ connect, admin, schema }: DbContext) {
  const client = await connect();
  const q = await client.createQueue<number>("late-claim", { maxAttempts: 1 });
  const id = await q.send(1, { attributes: { x: 2 } });
  // A first loop, which takes nothing, has the queue's deadlines watched: the watch's first
  // statement (a tick) must not be one that the lock holds up too.
  const idle = q.receive({ filter: { x: 1 } })[Symbol.asyncIterator]();
  void idle.next();
  const deadlines = (
    Client.runtimeOf(client) as unknown as {
      deadlines: { queues: Map<string, { leaseMs: number | undefined; ticking: boolean }> };
    }
  ).deadlines;
  await until(
    () => {
      const watched = deadlines.queues.get("late-claim");
      return watched?.leaseMs !== undefined && !watched.ticking;
    },
    5000,
    "the queue's first tick",
  );
  const lock = signal();
  const locked = signal();
  const holder = admin.begin(async (tx) => {
    await tx.unsafe(`lock table "${schema}"._jobs in exclusive mode`);
    locked.resolve();
    await lock.promise;
  });
  await within(locked.promise, 5000, "the lock");
  const loop = q.receive({ filter: { x: 2 } })[Symbol.asyncIterator]();
  const first = loop.next();
  await untilWaitingForLock(admin, "_claim", "the claim to wait for the lock");
  const release = async (): Promise<void> => {
    lock.resolve();
    await holder;
  };
  return { client, id, first, release };
}

dbTest(
  "close hands back, uncounted, the jobs of a claim that comes back while it closes",
  async (ctx) => {
    const { client, id, first, release } = await claimHeldByLock(ctx);
    const closing = client.close({ timeout: 1000 });
    // A client that does not wait for the claim ends its pool now, while the claim still waits.
    // A correct one waits, and nothing marks that moment: give the wrong one time to get there.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await release();
    await within(closing, 5000, "close");
    assert.equal((await within(first, 5000, "the loop to end")).done, true);
    const [job] = await ctx.admin.unsafe(
      `select state::text, attempt from "${ctx.schema}"._jobs where id = $1`,
      [id],
    );
    assert.deepEqual({ ...job }, { state: "queued", attempt: 0 }, "back in the queue, uncounted");
  },
);

dbTest("close does not wait without end for a claim held up on the database", async (ctx) => {
  const { client, first, release } = await claimHeldByLock(ctx);
  ctx.defer(release);
  void first.catch(() => undefined); // the loop's end is not what this test is about
  const started = performance.now();
  // At least a second for the claim, then the pool's own bound for its statements (5 s).
  await within(client.close({ timeout: 100 }), 10_000, "close, the lock still held");
  assert.ok(performance.now() - started >= 900, "it gave the claim its second");
});
