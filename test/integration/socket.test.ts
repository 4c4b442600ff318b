/**
 * pgwake opens its pools' sockets itself (src/db/socket.ts). These tests check that it opens them
 * as postgres.js would (TCP, a Unix socket path, TLS), leaves them to the driver or the user where
 * it should (several hosts, a pool passed in with a socket function), closes them when a pool
 * ends, and that a refused connect leaves the connection able to open later: the driver writes
 * to a socket it is handed at once, and a failure delivered before that write went out would
 * leave the write stuck.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import tls from "node:tls";
import { join } from "node:path";
import { test } from "node:test";
import postgres from "postgres";
import { openSocketsWith, socketOpener } from "../../src/db/socket.js";
import { connect } from "../../src/index.js";
import { databaseUrl, dbTest, signal, until, within } from "../helpers/db.js";
import { TcpProxy } from "../helpers/tcp-proxy.js";

const target = new URL(databaseUrl());
const targetPort = Number(target.port || 5432);

/**
 * A server that pipes each connection to the test database, listening where `listen` says;
 * `accept` may first speak with the client and then hand `connect` the stream to pipe.
 */
async function forwarder(
  listen: (server: net.Server, done: () => void) => void,
  accept: (client: net.Socket, connect: (stream: net.Socket) => void) => void = (c, go) => go(c),
): Promise<net.Server> {
  const server = net.createServer((socket) =>
    accept(socket, (client) => {
      const upstream = net.connect(targetPort, target.hostname);
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    }),
  );
  await new Promise<void>((resolve) => listen(server, resolve));
  return server;
}

/**
 * A TLS front end to the test database, as a server with `ssl = on` is to a client: it answers
 * the SSL request, terminates TLS with the test certificate (test/fixtures/tls) and forwards the
 * rest in the clear.
 */
async function tlsFrontEnd(cert: Buffer): Promise<net.Server> {
  const key = readFileSync(new URL("../fixtures/tls/key.pem", import.meta.url));
  return forwarder(
    (server, done) => server.listen(0, "127.0.0.1", done),
    (client, connect) => {
      client.once("data", () => {
        // The 8-byte SSL request: yes.
        client.write("S");
        connect(new tls.TLSSocket(client, { isServer: true, key, cert }));
      });
    },
  );
}

/** A port on which nothing listens (one just closed). */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A pool opening its sockets through pgwake; `end` ends it and closes the opener. */
function pool(options: postgres.Options<Record<string, never>>): {
  sql: postgres.Sql;
  end(): Promise<void>;
} {
  const sql = postgres({
    user: decodeURIComponent(target.username) || undefined,
    password: decodeURIComponent(target.password) || undefined,
    database: target.pathname.slice(1),
    max: 1,
    fetch_types: false,
    connect_timeout: 5,
    backoff: () => 0.01,
    onnotice: () => undefined,
    ...options,
  });
  const opener = socketOpener();
  openSocketsWith(sql, opener);
  return {
    sql,
    end: async () => {
      await sql.end({ timeout: 0 });
      opener.close();
    },
  };
}

test("a connection refused again and again opens at once when the server is back", async () => {
  const port = await closedPort();
  const { sql, end } = pool({ host: "127.0.0.1", port });
  try {
    for (let i = 0; i < 3; i++) {
      await assert.rejects(
        sql`select 1`,
        (error: { code?: string }) => error.code === "ECONNREFUSED",
      );
    }
    const server = await forwarder((s, done) => s.listen(port, "127.0.0.1", done));
    try {
      const started = performance.now();
      const [row] = await sql<[{ answer: number }]>`select 42 as answer`;
      assert.equal(row!.answer, 42);
      // A stuck login would wait for connect_timeout (5 s here).
      assert.ok(performance.now() - started < 2000, `${performance.now() - started} ms`);
    } finally {
      await end(); // before the server's close, which waits for its connections
      await new Promise((resolve) => server.close(resolve));
    }
  } finally {
    await end();
  }
});

test("a Unix socket path is opened as the driver would", async () => {
  const dir = await mkdtemp(join(tmpdir(), "pgwake-socket-"));
  const server = await forwarder((s, done) => s.listen(join(dir, `.s.PGSQL.${targetPort}`), done));
  const { sql, end } = pool({ host: dir, port: targetPort });
  try {
    assert.equal(
      typeof (sql.options as { socket?: unknown }).socket,
      "function",
      "opened through pgwake",
    );
    const [row] = await sql<[{ answer: number }]>`select 7 as answer`;
    assert.equal(row!.answer, 7);
  } finally {
    await end();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  }
});

test("TLS goes through pgwake's sockets (the SSL request is their first write), reconnects included", async () => {
  const cert = readFileSync(new URL("../fixtures/tls/cert.pem", import.meta.url));
  const server = await tlsFrontEnd(cert);
  const port = (server.address() as net.AddressInfo).port;
  let stuck = 0;
  const opener = socketOpener(() => stuck++);
  let closed = signal();
  const sql = postgres({
    host: "localhost",
    port,
    user: decodeURIComponent(target.username) || undefined,
    password: decodeURIComponent(target.password) || undefined,
    database: target.pathname.slice(1),
    max: 1,
    fetch_types: false,
    backoff: () => 0.01,
    onnotice: () => undefined,
    onclose: () => closed.resolve(),
    // Verified against the test certificate, for the name the opener gives (its host).
    ssl: { ca: cert },
  });
  openSocketsWith(sql, opener);
  const admin = postgres(databaseUrl(), { max: 1, onnotice: () => undefined });
  try {
    for (let i = 0; i < 3; i++) {
      const [row] = await sql<[{ i: number; pid: number }]>`
        select ${i}::int as i, pg_backend_pid() as pid`;
      assert.equal(row!.i, i);
      // The next round on a new connection, through TLS again.
      closed = signal();
      await admin`select pg_terminate_backend(${row!.pid})`;
      await within(closed.promise, 5000, "the terminated connection to close");
    }
    assert.equal(stuck, 0);
  } finally {
    await sql.end({ timeout: 0 });
    opener.close();
    await admin.end();
    await new Promise((resolve) => server.close(resolve));
  }
});

test("several hosts keep the driver's own sockets, which take them in turn", async () => {
  const down = await closedPort();
  const server = await forwarder((s, done) => s.listen(0, "127.0.0.1", done));
  const up = (server.address() as net.AddressInfo).port;
  const { sql, end } = pool({ host: `127.0.0.1:${down},127.0.0.1:${up}` });
  try {
    // The driver gives each connection its own turn through the hosts: a `socket` option
    // cannot know which connection asks, so pgwake leaves such pools alone.
    assert.equal((sql.options as { socket?: unknown }).socket, undefined);
    for (let i = 0; i < 3; i++) {
      const [row] = await sql<[{ answer: number }]>`select ${i}::int as answer`;
      assert.equal(row!.answer, i);
    }
  } finally {
    await end();
    await new Promise((resolve) => server.close(resolve));
  }
});

test("a pool ended while its connection is still opening keeps no connection", async () => {
  const proxy = await TcpProxy.start({ host: target.hostname, port: targetPort });
  try {
    const { sql, end } = pool({ host: "127.0.0.1", port: proxy.port });
    // Ended at once: the driver does not wait for a socket still being opened, and would log
    // in on it afterwards and keep the connection, unless the opener is closed too.
    const outcome = sql`select 1`.then(
      () => "answered",
      (error: { code?: string }) => error.code,
    );
    await end();
    assert.equal(await outcome, "CONNECTION_DESTROYED");
    await until(() => proxy.connections === 0, 5000, "the proxied connection to close");
    // Nothing opens one later: a short look, since no event says that nothing happened.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(proxy.connections, 0);
  } finally {
    await proxy.close();
  }
});

dbTest(
  "a pool passed in keeps its own socket function, and the listener uses it too",
  async ({ schema }) => {
    let opened = 0;
    // Reachable only through its socket function: the host itself does not resolve.
    const user = postgres({
      host: "db.internal.invalid",
      port: targetPort,
      user: decodeURIComponent(target.username) || undefined,
      password: decodeURIComponent(target.password) || undefined,
      database: target.pathname.slice(1),
      max: 2,
      fetch_types: false,
      onnotice: () => undefined,
      ...{
        // Not in the driver's types.
        socket: () => {
          opened++;
          return net.connect(targetPort, target.hostname);
        },
      },
    });
    try {
      const client = await connect({ sql: user, schema, pollInterval: false });
      try {
        const queue = await client.createQueue("user-socket");
        queue.work(async (job) => (job.payload as { n: number }).n * 2);
        // No poll: the worker wakes, and the completion arrives, by the listener's NOTIFY.
        const result = await within(queue.send({ n: 21 }).completed, 10_000, "the completion");
        assert.equal(result, 42);
        assert.ok(opened >= 2, `the user's socket function opened ${opened} sockets`);
      } finally {
        await client.close();
      }
    } finally {
      await user.end({ timeout: 1 });
    }
  },
);
