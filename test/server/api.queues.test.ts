import assert from "node:assert/strict";
import { dbTest } from "../helpers/db.js";
import { apiFor } from "../helpers/api.js";

dbTest("queues: create, list, read, patch and delete over HTTP", async ({ connect, defer }) => {
  const client = await connect();
  const api = apiFor(client, defer);

  const created = await api.call("POST", "/api/queues", {
    name: "emails",
    options: { maxAttempts: 3, leaseTime: "10s" },
  });
  assert.equal(created.status, 201);
  assert.equal(created.body.queue.name, "emails");
  assert.equal(created.body.queue.maxAttempts, 3);
  assert.equal(created.body.queue.leaseTime, 10_000);
  assert.deepEqual(created.body.queue.counts, {
    queued: 0,
    running: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
  });
  // Options may also sit at the top level, beside the name.
  assert.equal(
    (await api.call("POST", "/api/queues", { name: "flat", maxSize: 5 })).body.queue.maxSize,
    5,
  );

  await client.queue("emails").send({ to: "a@b.c" });
  const listed = await api.call("GET", "/api/queues");
  assert.deepEqual(
    listed.body.queues.map((q: { name: string }) => q.name),
    ["emails", "flat"],
  );
  assert.equal((await api.call("GET", "/api/queues/emails")).body.queue.counts.queued, 1);

  const patched = await api.call("PATCH", "/api/queues/emails", { options: { maxSize: 100 } });
  assert.equal(patched.status, 200);
  assert.equal(patched.body.queue.maxSize, 100);
  assert.equal(patched.body.queue.maxAttempts, 3, "options not named keep their values");
  assert.equal(patched.body.queue.leaseTime, 10_000);
  const unbounded = await api.call("PATCH", "/api/queues/emails", { maxSize: null });
  assert.equal(unbounded.body.queue.maxSize, undefined, "null removes the bound");
  await api.call("PATCH", "/api/queues/emails", {
    options: { backoff: { delay: 1000, factor: 3, max: 600_000 } },
  });
  const slower = await api.call("PATCH", "/api/queues/emails", { backoff: { delay: 5000 } });
  assert.deepEqual(
    slower.body.queue.backoff,
    { delay: 5000, factor: 3, max: 600_000 },
    "backoff's fields not named keep their values too",
  );

  const busy = await api.call("DELETE", "/api/queues/emails");
  assert.equal(busy.status, 409);
  assert.equal(busy.body.error.code, "QUEUE_IN_USE");
  assert.match(busy.body.error.message, /unfinished jobs/);
  assert.equal((await api.call("DELETE", "/api/queues/flat")).status, 204);
  assert.equal((await api.call("GET", "/api/queues/flat")).status, 404);
  assert.equal((await api.call("DELETE", "/api/queues/flat")).status, 404);
});

dbTest(
  "queues: bad input gets 400 with what was wrong, and writes nothing",
  async ({ connect, defer, admin, schema }) => {
    const client = await connect();
    const api = apiFor(client, defer);
    const cases: Array<[string, string, unknown, RegExp]> = [
      ["POST", "/api/queues", { options: {} }, /body.name/],
      ["POST", "/api/queues", { name: "bad name" }, /body.name/],
      ["POST", "/api/queues", { name: "q", options: { maxAttempts: 0 } }, /maxAttempts/],
      ["POST", "/api/queues", { name: "q", leaseTime: "soon" }, /leaseTime/],
      ["POST", "/api/queues", { name: "q", colour: "red" }, /colour/],
      ["POST", "/api/queues", { name: "q", options: [] }, /options/],
      ["PATCH", "/api/queues/missing", { maxAttempts: 2 }, /does not exist/],
    ];
    for (const [method, path, body, message] of cases) {
      const response = await api.call(method, path, body);
      assert.ok(
        [400, 404].includes(response.status),
        `${method} ${path} ${JSON.stringify(body)}: ${response.status}`,
      );
      assert.match(response.body.error.message, message);
      assert.equal(typeof response.body.error.code, "string");
    }
    const [row] = await admin.unsafe(`select count(*)::int as n from "${schema}"._queues`);
    assert.equal(row!.n, 0);
  },
);
