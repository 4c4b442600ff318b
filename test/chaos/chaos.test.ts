/**
 * The short chaos run (`npm run chaos` is the long one): three worker processes work about a
 * thousand jobs while one is SIGKILLed (and replaced), every connection is terminated, and
 * PostgreSQL is restarted and crashed. It runs on a PostgreSQL of its own, whatever DATABASE_URL
 * says, since it restarts it. test/chaos/verify.ts says what is counted and checked.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runChaos } from "./runner.js";
import { formatSummary } from "./summary.js";

test(
  "chaos: kills, terminated connections and restarts lose no job, complete none twice, leave no promise hanging",
  { timeout: 180_000 },
  async () => {
    const report = await runChaos({
      jobs: 1000,
      workers: 3,
      concurrency: 5,
      durationMs: 8000,
      // postgres.js 3.4.9 can leave a pool connection unable ever to open again; pgwake notices
      // when it times out while opening and replaces the pool (src/db/pool.ts). 10 s, not the
      // driver's 30, keeps that inside this short run, as the README advises.
      connectTimeoutS: 10,
      faults: ["terminate", "crash", "restart", "kill"],
      faultEveryMs: 0,
      leaseMs: 2000,
      workMs: 10,
      pollMs: 0,
      settleMs: 60_000,
      log: () => undefined,
    });
    console.log(formatSummary(report).replace(/^/gm, "# "));

    assert.deepEqual(report.verdict.problems, []);
    // Sends during an outage reject (and say so); most must get through.
    assert.ok(
      report.verdict.sendsResolved >= 500,
      `only ${report.verdict.sendsResolved} of 1000 sends resolved`,
    );
    assert.equal(report.verdict.completions, report.verdict.jobs);
    assert.equal(report.verdict.hanging, 0);
    assert.ok(report.verdict.executions >= report.verdict.jobs);
    assert.deepEqual(
      report.faults.map((fault) => fault.kind),
      ["terminate", "crash", "restart", "kill"],
    );
    for (const fault of report.faults) {
      assert.notEqual(fault.recoveryMs, null, `no job completed after the ${fault.kind}`);
    }
    // Memory, loosely: a short run only shows a leak that is gross.
    assert.ok(report.memory.length >= 1, "worker 0 lived through the run");
    for (const { start, end } of report.memory) {
      assert.ok(
        end.heapUsed < start.heapUsed * 2 + 16 * 1024 * 1024,
        `heap grew from ${start.heapUsed} to ${end.heapUsed} bytes`,
      );
    }
  },
);
