/**
 * Recovering from a database that goes away, found by the chaos test (test/chaos/) and reproduced
 * here through a TCP proxy in front of the test server, which can refuse connections (an outage)
 * or cut them at a chosen moment.
 */
import assert from "node:assert/strict";
import { connect as netConnect, createServer, type Server, type Socket } from "node:net";
import { arrayLiteral } from "../../src/db/pool-options.js";
import { dbTest, until, within } from "../helpers/db.js";

interface Proxy {
  url: string;
  /** Closes every connection and refuses new ones. */
  down(): Promise<void>;
  /** Accepts connections again, on the same port. */
  up(): Promise<void>;
  /**
   * The next `count` connections are cut as soon as the client sends its first message after
   * logging in (the server's first ReadyForQuery), as a restart may do to a fresh connection.
   */
  cutAfterLogin(count: number): void;
  /** Connections cut by `cutAfterLogin` so far. */
  cut: number;
}

async function startProxy(databaseUrl: string): Promise<Proxy> {
  const target = new URL(databaseUrl);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let toCut = 0;
  const proxy: Proxy = {
    url: "",
    cut: 0,
    async down() {
      await new Promise<void>((resolve) => {
        server!.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
    async up() {
      server = createServer(pipe);
      await new Promise<void>((resolve) => server!.listen(port, "127.0.0.1", resolve));
      port = (server.address() as { port: number }).port;
    },
    cutAfterLogin(count) {
      toCut = count;
    },
  };
  function pipe(client: Socket): void {
    const upstream = netConnect(Number(target.port || 5432), target.hostname);
    const close = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("error", close);
      socket.on("close", close);
    }
    const cutThis = toCut > 0;
    if (cutThis) toCut--;
    let loggedIn = false;
    let fromServer = Buffer.alloc(0);
    upstream.on("data", (chunk: Buffer) => {
      // Follow the server's messages (type byte, then int32 length) until its first
      // ReadyForQuery ('Z'): the login is over.
      if (cutThis && !loggedIn) {
        fromServer = Buffer.concat([fromServer, chunk]);
        while (fromServer.length >= 5) {
          const length = fromServer.readInt32BE(1);
          if (fromServer.length < 1 + length) break;
          if (fromServer[0] === 0x5a) loggedIn = true;
          fromServer = fromServer.subarray(1 + length);
        }
      }
      client.write(chunk);
    });
    client.on("data", (chunk: Buffer) => {
      if (cutThis && loggedIn) {
        proxy.cut++;
        // A reset, as when the server process is killed: the driver sees an error, not an end.
        client.resetAndDestroy();
        upstream.destroy();
        return;
      }
      upstream.write(chunk);
    });
  }
  await proxy.up();
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  proxy.url = url.toString();
  return proxy;
}

dbTest(
  "after an outage that failed many connection attempts, a busy client is back within seconds, not 10–20",
  async ({ url, schema, defer }) => {
    const proxy = await startProxy(url);
    defer(() => proxy.down());
    const { connect } = await import("../../src/index.js");
    const client = await connect({ url: proxy.url, schema, pollInterval: false, max: 10 });
    defer(() => client.close({ timeout: 1000 }));
    client.on("error", () => undefined); // the outage is reported; that is expected here
    const q = await client.createQueue<number, number>("reconnect", { leaseTime: 2000 });
    q.work(async (job) => job.payload * 2, { concurrency: 20 });
    assert.equal(await within(q.send(1).completed, 10_000, "a job before the outage"), 2);

    // While the database is away, the pool keeps failing: postgres.js counts each failed
    // connection attempt and, by default, then waits up to 20 s before the next one.
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on("warning", onWarning);
    defer(() => process.off("warning", onWarning));
    await proxy.down();
    const outageEnds = performance.now() + 2000;
    while (performance.now() < outageEnds) {
      await Promise.allSettled(Array.from({ length: 20 }, () => q.stats()));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await proxy.up();

    const back = performance.now();
    let result: number | undefined;
    await until(
      async () => {
        result = await q.send(21).completed.catch(() => undefined);
        return result !== undefined;
      },
      30_000,
      "a job sent after the outage to complete",
    );
    const recoveryMs = performance.now() - back;
    assert.equal(result, 42);
    // Fixed: well under a second. The driver's default backoff made it 10–20 s.
    assert.ok(recoveryMs < 8000, `back after ${Math.round(recoveryMs)} ms`);
    assert.deepEqual(
      warnings.filter((name) => name === "MaxListenersExceededWarning"),
      [],
      "twenty failing claims wait out one backoff, not twenty abort listeners",
    );
  },
  { timeout: 90_000 },
);

dbTest(
  "a connection cut right after login does not crash the process with an unhandled rejection",
  async ({ url, schema, defer }) => {
    const proxy = await startProxy(url);
    defer(() => proxy.down());
    const unhandled: unknown[] = [];
    const onUnhandled = (error: unknown): void => void unhandled.push(error);
    process.on("unhandledRejection", onUnhandled);
    defer(() => process.off("unhandledRejection", onUnhandled));
    const { connect } = await import("../../src/index.js");
    const client = await connect({ url: proxy.url, schema, pollInterval: false, max: 4 });
    defer(() => client.close({ timeout: 1000 }));
    client.on("error", () => undefined);
    const q = await client.createQueue<number, number>("cut");

    // With the driver's type fetch on, the first statement of a new connection is its own
    // `pg_type` query, whose promise postgres.js 3.4.9 drops: cut there, it rejects unhandled.
    await proxy.down();
    await proxy.up();
    proxy.cutAfterLogin(4);
    const attempts = Array.from({ length: 8 }, () => q.stats().catch(() => undefined));
    await Promise.all(attempts);
    await until(() => proxy.cut >= 1, 10_000, "a connection cut after login");
    assert.deepEqual(await q.stats().catch(() => q.stats()), {
      queued: 0,
      running: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
    });
    // Give a dropped promise's rejection the turn it needs to surface.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(unhandled, []);
  },
  { timeout: 60_000 },
);

dbTest("array parameters go as literals, quoted, and need no fetched type", async ({ admin }) => {
  assert.equal(arrayLiteral([]), "{}");
  assert.equal(
    arrayLiteral(["a", 'b"c', "d\\e", "f,g", "{}"]),
    '{"a","b\\"c","d\\\\e","f,g","{}"}',
  );
  const rows = await admin.unsafe("select unnest($1::text[]) as v", [
    arrayLiteral(["a", 'b"c', "d\\e", "f,g", "{}"]),
  ]);
  assert.deepEqual(
    rows.map((row) => row.v),
    ["a", 'b"c', "d\\e", "f,g", "{}"],
  );
});
