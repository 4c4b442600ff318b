/**
 * The soak (test/soak/soak.ts), short: 20,000 jobs of the soak's mix through one client, in ten
 * rounds. After each round, once the client has settled, every collection it keeps and every
 * listener it has must be back to exactly what they were after the first round, and no line of
 * src/ may hold more than one timer pending: anything kept per job, per send or per claim fails
 * here long before it could show in the heap.
 */
import assert from "node:assert/strict";
import { dbTest } from "../helpers/db.js";
import { Probe } from "../soak/probe.js";
import { pendingSrcTimers, pendingTimers, trackTimers } from "../soak/timers.js";
import { QUEUE, Workload } from "../soak/workload.js";

trackTimers(); // before any client sets a timer

const JOBS = 20_000;
const ROUNDS = 10;
/** Sockets the process may hold: the client's pool (5, see test/helpers/db.ts), its listener, the admin pool (3). */
const MAX_SOCKETS = 5 + 1 + 3;

dbTest(
  "soak, short: 20,000 jobs through one client leave no collection, listener or timer behind",
  async ({ connect, admin, schema }) => {
    // A safety poll every second re-reads every completion waiter while sends are in flight:
    // that is how reads racing sends were found (test/unit/completions.test.ts).
    const client = await connect({ pollInterval: "1s" });
    const errors: string[] = [];
    client.on("error", (error) => errors.push(error.message));
    await client.createQueue(QUEUE, {
      // Short enough for the cleaner to run during the test, long enough for a completion read
      // on a loaded machine to beat it (see the retention option in test/soak/soak.ts).
      retention: "3s",
      maxAttempts: 3,
      backoff: { delay: 100, factor: 1 },
    });
    const workload = new Workload(client, JOBS);
    const worker = workload.queue.work(workload.handle, { concurrency: 10 });
    const probe = new Probe(client);

    const perRound = JOBS / ROUNDS;
    await workload.round(0, perRound);
    // After the warm-up round: one claim lane, one watched queue, the worker waiting for a wake-up.
    const baseline = await probe.stable(300, 10_000);
    assert.equal(baseline.get("runtime.completions.waiters.size"), 0, "no completion waiter left");
    assert.equal(baseline.get("runtime.held.size"), 0, "no job held");
    for (let from = perRound; from < JOBS; from += perRound) {
      await workload.round(from, from + perRound);
      const settled = await probe.settle(baseline, 10_000);
      assert.deepEqual(settled.diff, [], `after ${from + perRound} jobs, back to the baseline`);
      for (const [site, pending] of pendingTimers()) {
        if (site !== "elsewhere") assert.ok(pending <= 1, `${pending} timers pending from ${site}`);
      }
      const sockets = process.getActiveResourcesInfo().filter((t) => t === "TCPSocketWrap");
      assert.ok(sockets.length <= MAX_SOCKETS, `${sockets.length} sockets open`);
    }

    workload.verify();
    assert.deepEqual(workload.problems.first, [], "every job ran as planned and was acked once");
    assert.equal(workload.problems.count, 0);
    assert.deepEqual(errors, [], "no background error");
    const [left] = await admin.unsafe(
      `select count(*)::int as n from "${schema}"._jobs
        where state not in ('completed', 'failed', 'cancelled')`,
    );
    assert.equal(left!.n, 0, "no job left unfinished");

    await worker.stop();
    await client.close();
    assert.equal(
      pendingSrcTimers(),
      0,
      `no timer of src/ pending once the client closed: ${JSON.stringify([...pendingTimers()])}`,
    );
  },
  { timeout: 120_000 },
);
