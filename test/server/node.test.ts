import assert from "node:assert/strict";
import { createServer, type AddressInfo } from "node:net";
import { Client, PgwakeError, ValidationError } from "../../src/index.js";
import { startServer } from "../../src/server/start.js";
import { dbTest, within } from "../helpers/db.js";

dbTest(
  "over a real socket: JSON routes, event streams, and a claim whose caller hung up",
  async ({ connect, defer }) => {
    const client = await connect();
    const server = await startServer(client, { port: 0 });
    defer(() => server.close(1000));
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);

    const health = await fetch(`${server.url}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true, database: true, listening: true });

    const created = await fetch(`${server.url}/api/queues`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "socket" }),
    });
    assert.equal(created.status, 201);

    // The event stream's headers and first bytes arrive before it ends.
    const events = new AbortController();
    const stream = await fetch(`${server.url}/api/events`, { signal: events.signal });
    assert.match(stream.headers.get("content-type")!, /event-stream/);
    const reader = stream.body!.getReader();
    const first = await within(reader.read(), 5000, "the stream's first bytes");
    assert.match(new TextDecoder().decode(first.value), /pgwake events/);
    events.abort();

    // A long-polling claim whose caller goes away must not keep a job for nobody.
    const hangUp = new AbortController();
    const abandoned = fetch(`${server.url}/api/queues/socket/claim?wait=20s`, {
      method: "POST",
      signal: hangUp.signal,
    }).catch((error: Error) => error.name);
    hangUp.abort();
    assert.equal(await abandoned, "AbortError");
    const id = await client.queue("socket").send("for someone who stays");
    const claimed = await fetch(`${server.url}/api/queues/socket/claim?wait=5s`, {
      method: "POST",
    });
    const [job] = ((await claimed.json()) as { jobs: Array<{ id: string; attempt: number }> }).jobs;
    assert.equal(job?.id, id);
    assert.equal(job?.attempt, 1, "the abandoned claim did not spend an attempt");

    const tooBig = await fetch(`${server.url}/api/queues/socket/jobs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ payload: "x".repeat(1024 * 1024 + 10) }),
    });
    assert.equal(tooBig.status, 413);
  },
);

dbTest(
  "listening beyond loopback without a token is refused with what to do",
  async ({ connect }) => {
    const client = await connect();
    await assert.rejects(startServer(client, { host: "0.0.0.0", port: 0 }), (error: unknown) => {
      assert.ok(error instanceof ValidationError);
      assert.match(error.message, /refusing to listen on 0\.0\.0\.0 without a token.*PGWAKE_TOKEN/);
      return true;
    });
    const server = await startServer(client, { host: "0.0.0.0", port: 0, token: "t" });
    await server.close();
  },
);

dbTest(
  "a port in use is a PgwakeError that says so, and the server leaves no listener on the client",
  async ({ connect, defer }) => {
    const client = await connect();
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    defer(() => new Promise((resolve) => taken.close(resolve)));
    const { port } = taken.address() as AddressInfo;
    const events = ["job:sent", "job:completed", "job:failed", "job:claimed"] as const;
    const runtime = Client.runtimeOf(client);
    const before = events.map((event) => runtime.listenerCount(event));
    const error: unknown = await startServer(client, { port }).then(
      () => assert.fail("listened on a taken port"),
      (e: unknown) => e,
    );
    assert.ok(error instanceof PgwakeError, String(error));
    assert.match(error.message, new RegExp(`port ${port} is taken.*choose another port`));
    assert.deepEqual(
      events.map((event) => runtime.listenerCount(event)),
      before,
    );
  },
);
