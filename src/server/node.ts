import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { PgwakeError } from "../errors.js";
import type { Handler } from "./handler.js";

export interface ServeOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 4545; 0 picks a free port. */
  port?: number;
}

export interface RunningServer {
  /** `http://host:port`. */
  url: string;
  /** Stops accepting, ends open event streams and waits for requests under way (up to `timeoutMs`). */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Serves a {@link Handler} with `node:http`: the thin adapter between Node's request and response
 * objects and the Fetch API's. A request's `signal` aborts when its client goes away, which ends
 * long polls and event streams.
 *
 * @example
 * ```ts
 * const server = await serve(createHandler(client), { port: 4545 });
 * console.log(`listening on ${server.url}`);
 * ```
 */
export async function serve(handler: Handler, options: ServeOptions = {}): Promise<RunningServer> {
  const server = createServer((req, res) => void respond(handler, req, res));
  // Long polls and event streams may stay open for minutes.
  server.requestTimeout = 0;
  server.headersTimeout = 30_000;
  const host = options.host ?? "127.0.0.1";
  const wanted = options.port ?? 4545;
  await new Promise<void>((resolve, reject) => {
    const refused = (error: NodeJS.ErrnoException) => reject(listenError(error, host, wanted));
    server.once("error", refused);
    server.listen(wanted, host, () => {
      server.off("error", refused);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    close: async (timeoutMs = 5000) => {
      handler.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

/** Why the server could not listen, in terms of the options that chose where. */
function listenError(error: NodeJS.ErrnoException, host: string, port: number): PgwakeError {
  const where = `${host.includes(":") ? `[${host}]` : host}:${port}`;
  const advice =
    error.code === "EADDRINUSE"
      ? `port ${port} is taken (another server?): choose another port, or 0 to take any free one`
      : error.code === "EACCES"
        ? `port ${port} needs privileges here: choose a port above 1023`
        : error.code === "EADDRNOTAVAIL" || error.code === "ENOTFOUND"
          ? `${host} is not an address of this machine: listen on 127.0.0.1, or on 0.0.0.0 with a token`
          : `${error.message}: check the host and port`;
  return new PgwakeError("HTTP", `could not listen on ${where}: ${advice}`, { cause: error });
}

async function respond(handler: Handler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const abort = new AbortController();
  res.on("close", () => abort.abort());
  try {
    const response = await handler(toRequest(req, abort.signal));
    res.statusCode = response.status;
    for (const [name, value] of response.headers) res.appendHeader(name, value);
    if (!response.body) {
      res.end();
      return;
    }
    res.flushHeaders(); // event streams: the client should see the headers before the first event
    await pipeline(Readable.fromWeb(response.body as never), res);
  } catch (error) {
    if (!res.headersSent) {
      res.statusCode = 500;
      res.setHeader("content-type", "application/json; charset=utf-8");
      res.end(JSON.stringify({ error: { code: "INTERNAL", message: "the response failed" } }));
    } else {
      res.destroy(error as Error);
    }
  }
}

function toRequest(req: IncomingMessage, signal: AbortSignal): Request {
  // The Host header is the client's to choose: keep it out of URL parsing.
  const url = new URL(req.url ?? "/", "http://localhost");
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else if (value !== undefined) headers.set(name, value);
  }
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  return new Request(url, {
    method: req.method,
    headers,
    signal,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream, duplex: "half" } : {}),
  } as RequestInit);
}
