import assert from "node:assert/strict";
import { Client } from "../../src/index.js";
import { dbTest, within } from "../helpers/db.js";
import { apiFor } from "../helpers/api.js";

dbTest(
  "remote workers: claim with a token, heartbeat, ack; a stale token is fenced",
  async ({ connect, defer }) => {
    const client = await connect();
    const api = apiFor(client, defer);
    const q = await client.createQueue<{ n: number }, string>("remote", { leaseTime: "5s" });
    const sent = q.send({ n: 1 }, { attributes: { region: "eu" } });
    const id = await sent;

    const claimed = await api.call(
      "POST",
      "/api/queues/remote/claim",
      { batch: 5 },
      { "x-pgwake-worker": "curl-1" },
    );
    assert.equal(claimed.status, 200);
    assert.equal(claimed.body.jobs.length, 1);
    const [job] = claimed.body.jobs;
    assert.equal(job.id, id);
    assert.deepEqual(job.payload, { n: 1 });
    assert.deepEqual(job.attributes, { region: "eu" });
    assert.equal(job.attempt, 1);
    assert.equal(job.leaseMs, 5000);
    assert.match(job.leaseToken, /^[0-9a-f-]{36}$/);
    assert.match((await q.get(id))!.leasedBy!, /for curl-1$/);

    const beat = await api.call("POST", `/api/jobs/${id}/heartbeat`, { token: job.leaseToken });
    assert.equal(beat.status, 200);
    assert.ok(new Date(beat.body.leaseExpiresAt) >= new Date(job.leaseExpiresAt));

    const wrong = "0190a6f4-0000-7000-8000-000000000009";
    const stale = await api.call("POST", `/api/jobs/${id}/ack`, { token: wrong, result: "no" });
    assert.equal(stale.status, 409);
    assert.equal(stale.body.error.code, "LEASE_LOST");
    assert.equal(
      (await api.call("POST", `/api/jobs/${id}/heartbeat`, { token: wrong })).status,
      409,
    );

    const acked = await api.call("POST", `/api/jobs/${id}/ack`, {
      token: job.leaseToken,
      result: "done",
    });
    assert.deepEqual(acked.body, { ok: true });
    assert.equal(await within(sent.completed, 5000, "completion"), "done");
    // Acking twice with the same token is recognised as the same ack; heartbeating a finished job is not.
    assert.equal(
      (await api.call("POST", `/api/jobs/${id}/ack`, { token: job.leaseToken })).status,
      200,
    );
    assert.equal(
      (await api.call("POST", `/api/jobs/${id}/heartbeat`, { token: job.leaseToken })).status,
      409,
    );
  },
);

dbTest(
  "remote workers: nack retries with the delay, then fails for good",
  async ({ connect, defer }) => {
    const client = await connect();
    const api = apiFor(client, defer);
    const q = await client.createQueue("flaky", { maxAttempts: 2 });
    const sent = q.send("x");
    const id = await sent;
    const first = (await api.call("POST", "/api/queues/flaky/claim", {})).body.jobs[0];
    const nacked = await api.call("POST", `/api/jobs/${id}/nack`, {
      token: first.leaseToken,
      error: { message: "upstream down", code: 503 },
      delay: 0,
    });
    assert.deepEqual(nacked.body, { ok: true });
    const second = (await api.call("POST", "/api/queues/flaky/claim", { wait: "5s" })).body.jobs[0];
    assert.equal(second.attempt, 2);
    assert.notEqual(second.leaseToken, first.leaseToken);
    assert.equal(
      (await api.call("POST", `/api/jobs/${id}/nack`, { token: first.leaseToken })).status,
      409,
    );
    await api.call("POST", `/api/jobs/${id}/nack`, {
      token: second.leaseToken,
      error: "still down",
    });
    await assert.rejects(within(sent.completed, 5000, "the failure"), /still down/);
    const info = await q.get(id);
    assert.deepEqual(
      info!.errors.map((e) => e.message),
      ["upstream down", "still down"],
    );
    const bad = await api.call("POST", `/api/jobs/${id}/nack`, {
      token: second.leaseToken,
      error: 42,
    });
    assert.equal(bad.status, 400);
  },
);

dbTest(
  "remote workers: a waiting claim is woken by a send, without polling",
  async ({ connect, defer }) => {
    const client = await connect();
    const api = apiFor(client, defer);
    const q = await client.createQueue("longpoll");
    const started = Date.now();
    const claim = api.call("POST", "/api/queues/longpoll/claim?wait=20s", {});
    // The claim is waiting (an empty queue); this send's NOTIFY must wake it.
    const id = await q.send("wake");
    const claimed = await within(claim, 5000, "the waiting claim");
    assert.equal(claimed.body.jobs[0].id, id);
    assert.ok(Date.now() - started < 5000);
    const empty = await api.call("POST", "/api/queues/longpoll/claim", { wait: 30 });
    assert.deepEqual(empty.body, { jobs: [] });
  },
);

dbTest(
  "remote workers: a dead remote worker's job comes back after its lease",
  async ({ connect, defer }) => {
    const client = await connect();
    const api = apiFor(client, defer);
    const q = await client.createQueue("orphans", { leaseTime: 300 });
    const id = await q.send("x");
    const first = (await api.call("POST", "/api/queues/orphans/claim", {})).body.jobs[0];
    assert.equal(first.id, id);
    // The worker never heartbeats: the server's deadline timer takes the job back.
    const again = await api.call("POST", "/api/queues/orphans/claim?wait=5s", {});
    assert.equal(again.body.jobs[0].id, id);
    assert.equal(again.body.jobs[0].attempt, 2);
  },
);

dbTest(
  "remote workers: a claim from a queue that does not exist is a 404, and watches nothing",
  async ({ connect, defer }) => {
    const client = await connect();
    const api = apiFor(client, defer);
    // The deadline watcher's queues (private): each runs a statement on every poll.
    const runtime = Client.runtimeOf(client) as unknown as {
      deadlines: { queues: Map<string, unknown> };
    };
    const watched = (): number => runtime.deadlines.queues.size;
    const before = watched();
    for (const name of ["made-up-1", "made-up-2", "made-up-3"]) {
      const response = await api.call("POST", `/api/queues/${name}/claim`, {});
      assert.equal(response.status, 404, response.text);
      assert.equal(response.body.error.code, "QUEUE_NOT_FOUND");
    }
    assert.equal(watched(), before, "no deadline watcher for a made-up name");
    await client.createQueue("real");
    assert.equal((await api.call("POST", "/api/queues/real/claim", {})).status, 200);
    assert.equal(watched(), before + 1);
  },
);
