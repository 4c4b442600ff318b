import assert from "node:assert/strict";
import { test } from "node:test";
import { describeBench, type BenchReport } from "../../src/cli/commands/bench.js";
import { dbTest } from "../helpers/db.js";
import { cli } from "./capture.js";

dbTest(
  "pgwake bench measures in a schema of its own and drops it",
  async ({ url, schema, admin }) => {
    const env = { DATABASE_URL: url, PGWAKE_SCHEMA: schema };
    const json = await cli(["bench", "--jobs", "300", "--concurrency", "4", "--json"], env);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as BenchReport;
    assert.match(report.postgres, /^\d+/);
    assert.ok(report.schema.startsWith(`${schema.slice(0, 30)}_bench_`));
    assert.equal(report.jobs, 300);
    assert.equal(report.concurrency, 4);
    assert.equal(report.enqueue.jobs, 300);
    assert.equal(report.drain.jobs, 300);
    assert.ok(report.enqueue.perSecond > 0 && report.drain.perSecond > 0);
    assert.equal(report.wakeLatency.jobs, 200);
    assert.equal(report.roundTrip.jobs, 100);
    for (const latency of [report.wakeLatency, report.roundTrip]) {
      assert.ok(latency.p50 > 0 && latency.p50 <= latency.p95 && latency.p95 <= latency.p99);
    }
    const left = await admin`select 1 from pg_namespace where nspname = ${report.schema}`;
    assert.equal(left.length, 0, "the bench schema is dropped");
  },
);

test("pgwake bench prints its numbers as a table", () => {
  const report: BenchReport = {
    postgres: "18.4",
    schema: "pgwake_bench_0a1b2c3d",
    jobs: 5000,
    concurrency: 10,
    enqueue: { jobs: 5000, ms: 230.5, perSecond: 21692 },
    drain: { jobs: 5000, ms: 4260, perSecond: 1174 },
    wakeLatency: { jobs: 200, p50: 1.84, p95: 7.8, p99: 13.94 },
    roundTrip: { jobs: 100, p50: 3.7, p95: 6.01, p99: 6.4 },
  };
  assert.equal(
    describeBench(report),
    [
      "PostgreSQL 18.4, schema pgwake_bench_0a1b2c3d (dropped afterwards)",
      "STEP          JOBS   TIME  JOBS/S    P50    P95     P99",
      "enqueue       5000  0.23s   21692                        concurrent send()",
      "drain         5000  4.26s    1174                        work(), concurrency 10",
      "wake latency   200                 1.8ms  7.8ms  13.9ms  send → handler start, idle worker, 5 ms apart",
      "round trip     100                 3.7ms  6.0ms   6.4ms  await send().completed, one at a time",
    ].join("\n"),
  );
});
