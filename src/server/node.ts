import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
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
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 4545, host, () => {
      server.off("error", reject);
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
