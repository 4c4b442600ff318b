import assert from "node:assert/strict";
import { dbTest, signal, within } from "../helpers/db.js";
import { apiFor } from "../helpers/api.js";

dbTest(
  "jobs: send, list with paging and filters, read, cancel and retry",
  async ({ connect, defer }) => {
    const client = await connect();
    const api = apiFor(client, defer);
    await client.createQueue("reports");

    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const sent = await api.call("POST", "/api/queues/reports/jobs", {
        payload: { n: i },
        options: { priority: i, attributes: { region: "eu" } },
      });
      assert.equal(sent.status, 201);
      ids.push(sent.body.id);
    }
    const batch = await api.call("POST", "/api/queues/reports/jobs", {
      jobs: [{ payload: "a" }, { payload: "b", options: { delay: "1h" } }],
    });
    assert.equal(batch.status, 201);
    assert.equal(batch.body.ids.length, 2);

    const first = await api.call("GET", "/api/jobs?queue=reports&limit=4");
    assert.equal(first.status, 200);
    assert.equal(first.body.jobs.length, 4);
    const second = await api.call(
      "GET",
      `/api/jobs?queue=reports&limit=4&cursor=${first.body.nextCursor}`,
    );
    assert.equal(second.body.jobs.length, 3);
    assert.equal(second.body.nextCursor, null);
    const all = [...first.body.jobs, ...second.body.jobs].map((j: { id: string }) => j.id);
    assert.deepEqual(all, [...batch.body.ids].reverse().concat([...ids].reverse()));

    const job = await api.call("GET", `/api/jobs/${ids[2]}`);
    assert.equal(job.body.job.state, "queued");
    assert.deepEqual(job.body.job.payload, { n: 2 });
    assert.deepEqual(job.body.job.attributes, { region: "eu" });
    assert.equal(job.body.job.priority, 2);

    assert.deepEqual((await api.call("POST", `/api/jobs/${ids[2]}/cancel`)).body, {
      cancelled: true,
    });
    assert.deepEqual((await api.call("POST", `/api/jobs/${ids[2]}/cancel`)).body, {
      cancelled: false,
    });
    const cancelled = await api.call("GET", "/api/jobs?state=cancelled");
    assert.deepEqual(
      cancelled.body.jobs.map((j: { id: string }) => j.id),
      [ids[2]],
    );
    assert.deepEqual((await api.call("POST", `/api/jobs/${ids[2]}/retry`)).body, { retried: true });
    assert.deepEqual((await api.call("POST", `/api/jobs/${ids[3]}/retry`)).body, {
      retried: false,
    });
    assert.equal((await client.queue("reports").get(ids[2]!))?.state, "queued");

    const unknown = "0190a6f4-0000-7000-8000-000000000001";
    assert.equal((await api.call("GET", `/api/jobs/${unknown}`)).status, 404);
    assert.equal((await api.call("POST", `/api/jobs/${unknown}/cancel`)).status, 404);
    assert.equal((await api.call("GET", "/api/jobs/not-a-uuid")).status, 400);
    assert.equal((await api.call("GET", "/api/jobs?state=done")).status, 400);
    assert.equal((await api.call("GET", "/api/jobs?limit=lots")).status, 400);
  },
);

dbTest(
  "jobs: ?wait= answers with the outcome once the job finished, or 202 in time",
  async ({ connect, defer }) => {
    const client = await connect();
    const api = apiFor(client, defer);
    const q = await client.createQueue<number, number>("math", { maxAttempts: 1 });
    q.work(async (job) => {
      if (job.payload < 0) throw new Error("negative");
      return job.payload * 2;
    });
    const done = await api.call("POST", "/api/queues/math/jobs?wait=10s", { payload: 21 });
    assert.equal(done.status, 200);
    assert.equal(done.body.state, "completed");
    assert.equal(done.body.result, 42);
    const failed = await api.call("POST", "/api/queues/math/jobs?wait=10s", { payload: -1 });
    assert.equal(failed.status, 200);
    assert.equal(failed.body.state, "failed");
    assert.equal(failed.body.error.message, "negative");
    assert.equal(failed.body.attempts, 1);

    await client.createQueue("idle");
    const pending = await api.call("POST", "/api/queues/idle/jobs?wait=50", { payload: 1 });
    assert.equal(pending.status, 202);
    assert.deepEqual(Object.keys(pending.body).sort(), ["id", "state"]);
    assert.equal(pending.body.state, "queued");
    assert.equal(
      (await api.call("POST", "/api/queues/idle/jobs?wait=1h", { payload: 1 })).status,
      400,
    );
  },
);

dbTest(
  "jobs: bad sends get 400 or 404 and write nothing",
  async ({ connect, defer, admin, schema }) => {
    const client = await connect();
    const api = apiFor(client, defer);
    await client.createQueue("q");
    const cases: Array<[string, unknown, number, RegExp]> = [
      ["/api/queues/q/jobs", { options: {} }, 400, /payload/],
      ["/api/queues/q/jobs", { payload: 1, options: { priority: 1.5 } }, 400, /priority/],
      ["/api/queues/q/jobs", { payload: 1, options: { delay: -5 } }, 400, /delay/],
      [
        "/api/queues/q/jobs",
        { payload: 1, options: { signal: "x" } },
        400,
        /not available over HTTP/,
      ],
      ["/api/queues/q/jobs", { payload: 1, extra: true }, 400, /extra/],
      [
        "/api/queues/q/jobs",
        { jobs: [{ payload: 1 }, { payload: 2, options: { maxAttempts: 0 } }] },
        400,
        /maxAttempts/,
      ],
      [
        "/api/queues/q/jobs",
        { payload: 1, options: { after: ["0190a6f4-0000-7000-8000-000000000001"] } },
        400,
        /do not exist|unknown/,
      ],
      [
        "/api/queues/q/jobs",
        { jobs: [{ payload: 1, options: { timeout: "1s" } }] },
        400,
        /sendMany\(items, \{ timeout \}\)|timeout/,
      ],
      ["/api/queues/q/jobs", { jobs: [{ payload: 1 }], timeout: "soon" }, 400, /body\.timeout/],
      ["/api/queues/nope/jobs", { payload: 1 }, 404, /does not exist/],
      ["/api/queues/q/jobs", "[1,2]", 400, /object/],
      ["/api/queues/q/jobs", "{not json", 400, /not valid JSON/],
    ];
    for (const [path, body, status, message] of cases) {
      const response = await api.call("POST", path, body);
      assert.equal(response.status, status, `${JSON.stringify(body)} → ${response.text}`);
      assert.match(response.body.error.message, message);
    }
    const [row] = await admin.unsafe(`select count(*)::int as n from "${schema}"._jobs`);
    assert.equal(row!.n, 0, "nothing written");
  },
);

dbTest(
  "events: the stream reports ready and done notifications and a rate each second",
  async ({ connect, defer }) => {
    const client = await connect();
    const api = apiFor(client, defer);
    const q = await client.createQueue<number>("watched");
    const abort = new AbortController();
    defer(() => abort.abort());
    const response = await api.handler(
      new Request("http://pgwake.test/api/events", { signal: abort.signal }),
    );
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type")!, /text\/event-stream/);
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const seen = new Map<string, unknown[]>();
    const gotAll = signal();
    void (async () => {
      let buffer = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (event && data) seen.set(event, [...(seen.get(event) ?? []), JSON.parse(data)]);
          if (seen.has("ready") && seen.has("done") && seen.has("rate")) gotAll.resolve();
        }
      }
    })();
    q.work(async (job) => job.payload);
    const id = await q.send(7);
    await within(gotAll.promise, 5000, "ready, done and rate events");
    assert.deepEqual(seen.get("ready")![0], { queue: "watched", ready: 1 });
    assert.deepEqual(seen.get("done")![0], { queue: "watched", state: "completed", ids: [id] });
    const rate = seen.get("rate")!.at(-1) as Record<string, unknown>;
    assert.deepEqual(Object.keys(rate).sort(), [
      "at",
      "cancelled",
      "completed",
      "failed",
      "ready",
      "wakeLatencyMs",
    ]);
    await reader.cancel();
  },
);

dbTest(
  "jobs: a batch's timeout bounds its wait for room in a bounded queue",
  async ({ connect, defer }) => {
    const client = await connect();
    const api = apiFor(client, defer);
    const q = await client.createQueue("small", { maxSize: 1 });
    await q.send(0);
    const full = await api.call("POST", "/api/queues/small/jobs", {
      jobs: [{ payload: 1 }],
      timeout: "100ms",
    });
    assert.equal(full.status, 429, full.text);
    assert.equal((await q.stats()).queued, 1, "nothing more was written");
  },
);
