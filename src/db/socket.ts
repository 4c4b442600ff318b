/**
 * The sockets of pgwake's pools. pgwake opens them itself (postgres.js's `socket` option) for one
 * reason: to see at once when postgres.js 3.4.9 has left a connection unable to log in, which
 * otherwise shows only when `connect_timeout` runs out, 10 s later.
 *
 * The driver buffers each small write and sends it from `setImmediate`. When a connection closes
 * with such a write pending, the driver cancels the immediate but keeps the buffer and leaves the
 * timer's id set (LanternOps/breeze#3225 describes the same bug). The next write on that
 * connection, its login after a reconnect, is appended to the buffer and, seeing a timer "set",
 * schedules none: nothing is ever sent. Restarts and `pg_terminate_backend` cause it often, since
 * pgwake's batches start from `setImmediate` too.
 *
 * A socket the driver was handed always gets its first write (the startup or SSL request) within
 * one turn of the event loop. A connected socket that got none is that connection: it is
 * destroyed with a connection error (which rejects the statement waiting for it, to be retried
 * as after any outage) and reported, so that the pool is made again (src/db/pool.ts).
 */
import net from "node:net";
import { connectionLost } from "./orphans.js";

/** The fields of postgres.js's parsed options that opening a socket reads. */
export interface DriverSocketOptions {
  host: string[];
  port: number[];
  path?: string | false;
  /** Seconds; also bounds the TCP connect, which the driver times only when it opens sockets. */
  connect_timeout?: number | null;
  sslnegotiation?: string | null;
}

/** A connected socket still unwritten this long (then one turn more) is a stuck connection. */
const FIRST_WRITE_WITHIN_MS = 50;

type Socket = net.Socket & { host?: string; port?: number };

/**
 * A `socket` option for postgres.js: opens sockets as the driver would (the hosts in turn, or
 * the Unix socket path), and calls `onStuck` for each connection found unable to log in.
 */
export function socketOpener(
  onStuck: () => void = () => undefined,
): (options: DriverSocketOptions) => Promise<net.Socket> {
  let next = 0;
  return (options) => {
    const index = next++ % options.host.length;
    const host = options.host[index]!;
    const port = options.port[index] ?? options.port[0]!;
    const socket: Socket = options.path ? net.connect(options.path) : net.connect(port, host);
    // Read by the driver for its error messages and the TLS server name.
    socket.host = host;
    socket.port = port;
    return new Promise((resolve) => {
      const timeoutMs = (options.connect_timeout ?? 0) * 1000;
      const timer =
        timeoutMs > 0
          ? setTimeout(() => failed(connectTimedOut(options, host, port)), timeoutMs)
          : undefined;
      const connected = (): void => {
        clearTimeout(timer);
        socket.off("error", failed);
        // With direct TLS the driver's first bytes go through the TLS socket, not this one.
        if (options.sslnegotiation !== "direct") watchFirstWrite(socket, onStuck);
        resolve(socket);
      };
      const failed = (error: Error): void => {
        clearTimeout(timer);
        socket.off("connect", connected);
        socket.destroy();
        resolve(failedSocket(error));
      };
      socket.once("connect", connected);
      socket.once("error", failed);
    });
  };
}

/** Destroys `socket` if the driver writes nothing on it within a turn of being handed it. */
function watchFirstWrite(socket: net.Socket, onStuck: () => void): void {
  let written = false;
  socket.write = function (this: net.Socket, ...args: unknown[]): boolean {
    written = true;
    delete (socket as Partial<net.Socket>).write; // the prototype's from now on
    return (net.Socket.prototype.write as (...a: unknown[]) => boolean).apply(this, args);
  } as net.Socket["write"];
  // The driver's first write is scheduled (setImmediate) before this timer can fire, so the
  // immediate queued here runs after it: the check does not depend on the machine's speed.
  setTimeout(
    () =>
      setImmediate(() => {
        if (written || socket.destroyed) return;
        socket.destroy(
          connectionLost(
            "postgres.js sent nothing on a new connection (it lost a write when the one before " +
              "closed): given up, and the pool made again",
          ),
        );
        onStuck();
      }),
    FIRST_WRITE_WITHIN_MS,
  ).unref();
}

/**
 * A socket for a connect that failed. Handed back rejected, the driver would leave the
 * connection waiting for good; a socket that errors before the driver listens would be missed.
 * This one fails once the driver has written to it (or a turn later), as the driver's own
 * socket fails when its connect does.
 */
function failedSocket(error: Error): net.Socket {
  const socket = new net.Socket();
  const fail = (): void => void setImmediate(() => socket.destroy(error));
  socket.write = ((...args: unknown[]): boolean => {
    const callback = args.find((arg) => typeof arg === "function") as
      ((error: Error) => void) | undefined;
    if (callback) process.nextTick(callback, error);
    fail();
    return true;
  }) as net.Socket["write"];
  setImmediate(() => setImmediate(() => socket.destroyed || socket.destroy(error)));
  return socket;
}

/** The error the driver gives when a connect times out, for the TCP connect it no longer times. */
function connectTimedOut(options: DriverSocketOptions, host: string, port: number): Error {
  const where = options.path || `${host}:${port}`;
  return Object.assign(new Error(`write CONNECT_TIMEOUT ${where}`), {
    code: "CONNECT_TIMEOUT",
    errno: "CONNECT_TIMEOUT",
    address: options.path || host,
    ...(options.path ? {} : { port }),
  });
}
