import assert from "node:assert/strict";
import { JobFailedError, type Client } from "../../src/index.js";
import { createHandler } from "../../src/server/handler.js";
import { createMetrics, type Metrics } from "../../src/server/metrics.js";
import { dbTest, within, type DbContext } from "../helpers/db.js";

/** One sample of the exposition text: a metric name, its labels, and its value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the text format's sample lines (label values here never contain `"` or `,`). */
function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").split(",").filter(Boolean)) {
      const [key, quoted] = pair.split("=") as [string, string];
      labels[key] = quoted.slice(1, -1);
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with this name and (at least) these labels. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  assert.equal(found.length, 1, `one sample of ${name}${JSON.stringify(labels)}`);
  return found[0]!.value;
}

/** Metrics over `client` behind the HTTP handler, and a scrape of `GET /metrics`. */
function serveMetrics(
  client: Client,
  defer: DbContext["defer"],
): { metrics: Metrics; scrape(): Promise<{ text: string; samples: Sample[] }> } {
  const metrics = createMetrics(client);
  const handler = createHandler(client, { metrics });
  defer(() => {
    handler.close();
    metrics.close();
  });
  return {
    metrics,
    async scrape() {
      const response = await handler(new Request("http://local/metrics"));
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      const text = await response.text();
      return { text, samples: parse(text) };
    },
  };
}

dbTest(
  "GET /metrics counts sends, completions and failed attempts, and reads the job gauges",
  async ({ connect, defer }) => {
    const client = await connect();
    const { scrape } = serveMetrics(client, defer);
    const q = await client.createQueue<{ n: number; fail?: boolean }, number>("m", {
      maxAttempts: 1,
    });
    const worker = q.work(
      (job) => {
        if (job.payload.fail) throw new Error("boom");
        return job.payload.n * 2;
      },
      { concurrency: 2 },
    );
    const one = q.send({ n: 1 });
    const batch = q.sendMany([{ payload: { n: 2 } }, { payload: { n: 3 } }]);
    const failing = q.send({ n: 4, fail: true });
    await q.send({ n: 5 }, { delay: "1h" }); // stays queued (delayed)
    assert.deepEqual(await within(batch.completed, 5000, "the batch"), [4, 6]);
    assert.equal(await within(one.completed, 5000, "the first job"), 2);
    await assert.rejects(within(failing.completed, 5000, "the failing job"), JobFailedError);
    // Acks and nacks are settled (and their events emitted) once the worker has stopped.
    await worker.stop();

    const { text, samples } = await scrape();
    assert.equal(value(samples, "pgwake_up"), 1);
    assert.equal(value(samples, "pgwake_jobs_sent_total", { queue: "m" }), 5);
    assert.equal(value(samples, "pgwake_jobs_completed_total", { queue: "m" }), 3);
    assert.equal(value(samples, "pgwake_job_attempts_failed_total", { queue: "m" }), 1);
    const gauges = Object.fromEntries(
      ["queued", "running", "completed", "failed", "cancelled"].map((state) => [
        state,
        value(samples, "pgwake_jobs", { queue: "m", state }),
      ]),
    );
    assert.deepEqual(gauges, { queued: 1, running: 0, completed: 3, failed: 1, cancelled: 0 });
    assert.equal(value(samples, "pgwake_jobs_delayed", { queue: "m" }), 1);
    assert.equal(value(samples, "pgwake_jobs_waiting", { queue: "m" }), 0);
    // Four claims (three completed, one failed for good), each one attempt.
    assert.equal(value(samples, "pgwake_wake_latency_seconds_count", { queue: "m" }), 4);
    assert.equal(
      value(samples, "pgwake_wake_latency_seconds_bucket", { queue: "m", le: "+Inf" }),
      4,
    );
    assert.ok(
      samples.some(
        (s) => s.name === "pgwake_wake_latency_seconds_bucket" && s.labels.le === "0.0005",
      ),
      "the wake-latency buckets start at 0.5 ms",
    );
    assert.equal(value(samples, "pgwake_job_duration_seconds_count", { queue: "m" }), 4);
    assert.ok(value(samples, "pgwake_notifications_total", { channel: "ready" }) >= 1);
    assert.ok(value(samples, "pgwake_notifications_total", { channel: "done" }) >= 1);
    assert.equal(value(samples, "pgwake_listener_reconnects_total"), 0);
    assert.doesNotMatch(text, /^process_|^nodejs_/m, "no default process metrics");
  },
);

dbTest(
  "gauges follow the database at every scrape; close() stops counting; registries are separate",
  async ({ connect, defer }) => {
    const client = await connect();
    const { metrics, scrape } = serveMetrics(client, defer);
    // A second set on the same client (another server in this process) does not collide.
    const other = createMetrics(client);
    defer(() => other.close());
    const q = await client.createQueue("g");
    await q.sendMany([{ payload: 1 }, { payload: 2 }]);
    let { samples } = await scrape();
    assert.equal(value(samples, "pgwake_jobs", { queue: "g", state: "queued" }), 2);
    assert.equal(value(samples, "pgwake_jobs_sent_total", { queue: "g" }), 2);

    assert.equal(await q.cancel(await q.send(3)), 1);
    ({ samples } = await scrape());
    assert.equal(value(samples, "pgwake_jobs", { queue: "g", state: "queued" }), 2);
    assert.equal(value(samples, "pgwake_jobs", { queue: "g", state: "cancelled" }), 1);
    assert.equal(value(samples, "pgwake_jobs_sent_total", { queue: "g" }), 3);

    metrics.close();
    await q.send(4);
    ({ samples } = await scrape());
    assert.equal(
      value(samples, "pgwake_jobs_sent_total", { queue: "g" }),
      3,
      "closed: not counted",
    );
    assert.equal(value(samples, "pgwake_jobs", { queue: "g", state: "queued" }), 3);
    assert.equal(value(parse(await other.render()), "pgwake_jobs_sent_total", { queue: "g" }), 4);
  },
);

dbTest(
  "a failed stats query gives pgwake_up 0 and still serves the counters",
  async ({ connect }) => {
    const client = await connect();
    const errors: unknown[] = [];
    const metrics = createMetrics(client, { onError: (error) => errors.push(error) });
    const q = await client.createQueue("u");
    await q.send(1);
    await client.close();
    const samples = parse(await metrics.render());
    metrics.close();
    assert.equal(value(samples, "pgwake_up"), 0);
    assert.equal(value(samples, "pgwake_jobs_sent_total", { queue: "u" }), 1);
    assert.ok(!samples.some((s) => s.name === "pgwake_jobs"), "no stale gauges");
    assert.equal((errors[0] as Error).name, "ClientClosedError");
  },
);
