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

/** The sockets of one postgres.js instance. */
export interface SocketOpener {
  /** The `socket` option: opens a socket as the driver would (its host, or the Unix path). */
  readonly open: (options: DriverSocketOptions) => Promise<net.Socket>;
  /**
   * Opens no socket from now on and destroys those open or opening. Call it once the instance
   * has ended: with a `socket` option, postgres.js ends a connection whose socket is still being
   * opened without waiting for it, and would log in on that socket afterwards and keep it.
   */
  close(): void;
}

/** The `open` functions of pgwake's openers: a `socket` option that is not one is the user's. */
const openers = new WeakSet<object>();

/** Calls `onStuck` for each connection found unable to log in. */
export function socketOpener(onStuck: () => void = () => undefined): SocketOpener {
  const sockets = new Set<net.Socket>();
  let closed = false;
  const open = (options: DriverSocketOptions): Promise<net.Socket> => {
    if (closed) return Promise.resolve(failedSocket(ended()));
    // The driver's TLS upgrade removes every listener of the plain socket, the one below that
    // forgets a closed socket included: forget those here.
    for (const socket of sockets) if (socket.destroyed) sockets.delete(socket);
    const host = options.host[0]!;
    const port = options.port[0]!;
    const socket: Socket = options.path ? net.connect(options.path) : net.connect(port, host);
    // Read by the driver for its error messages and the TLS server name.
    socket.host = host;
    socket.port = port;
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    return new Promise((resolve) => {
      const timeoutMs = (options.connect_timeout ?? 0) * 1000;
      const timer =
        timeoutMs > 0
          ? setTimeout(() => failed(connectTimedOut(options, host, port)), timeoutMs)
          : undefined;
      const settle = (): void => {
        clearTimeout(timer);
        socket.off("connect", connected);
        socket.off("error", failed);
        socket.off("close", endedMeanwhile);
      };
      const connected = (): void => {
        settle();
        // With direct TLS the driver's first bytes go through the TLS socket, not this one.
        if (options.sslnegotiation !== "direct") watchFirstWrite(socket, onStuck);
        resolve(socket);
      };
      const failed = (error: Error): void => {
        settle();
        socket.on("error", () => undefined); // destroyed: nothing more to hear
        socket.destroy();
        resolve(failedSocket(error));
      };
      const endedMeanwhile = (): void => failed(ended());
      socket.once("connect", connected);
      socket.once("error", failed);
      socket.once("close", endedMeanwhile);
    });
  };
  openers.add(open);
  return {
    open,
    close() {
      closed = true;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
  };
}

/**
 * Has `sql` open its sockets through `opener`. Not when it has several hosts (the driver gives
 * each connection its own turn through them, which a `socket` option cannot see), nor when its
 * options carry a `socket` of the user's (the listener's options are copied from a pool the user
 * may have passed in). Call it before the instance's first statement.
 */
export function openSocketsWith(sql: { options: object }, opener: SocketOpener): void {
  const options = sql.options as { host: string[]; socket?: object };
  if (options.host.length !== 1) return;
  if (options.socket === undefined || openers.has(options.socket)) options.socket = opener.open;
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
 * This one swallows the driver's first write and fails on the turn after it, as the driver's own
 * socket fails when its connect does: failing before that write went out would leave it pending,
 * and the connection stuck (see above).
 */
function failedSocket(error: Error): net.Socket {
  const socket = new net.Socket();
  socket.write = ((...args: unknown[]): boolean => {
    const callback = args.find((arg) => typeof arg === "function") as
      ((error: Error) => void) | undefined;
    if (callback) process.nextTick(callback, error);
    return true;
  }) as net.Socket["write"];
  // Queued before the driver has this socket, so before its write's immediate: the inner one
  // runs on the turn after that write (or, if the driver writes nothing, fails it all the same).
  setImmediate(() => setImmediate(() => socket.destroy(error)));
  return socket;
}

/** What a socket asked of a closed opener fails with: the pool was ended by its owner. */
function ended(): Error {
  return Object.assign(new Error("the pool was ended"), { code: "CONNECTION_ENDED" });
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
