import type { Client } from "../client.js";
import { ValidationError } from "../errors.js";
import { createHandler } from "./handler.js";
import { createMetrics } from "./metrics.js";
import { serve, type RunningServer } from "./node.js";

export interface StartServerOptions {
  /** Default 127.0.0.1. Any other address needs a token. */
  host?: string;
  /** Default 4545; 0 picks a free port. */
  port?: number;
  /** Every request must present it; required unless the server listens on loopback only. */
  token?: string | undefined;
  /** Larger request bodies get 413 (default 1 MiB). */
  maxBodyBytes?: number | undefined;
  /** Told about requests that failed with a 5xx. */
  onError?: (error: unknown) => void;
}

/** Whether a host name or address only accepts connections from this machine. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host);
}

/**
 * The HTTP API, metrics and dashboard over `client`, listening on `host:port`. Refuses to listen
 * beyond loopback without a token: the API can read every payload and cancel every job.
 *
 * @example
 * ```ts
 * const server = await startServer(client, { port: 4545, token: process.env.PGWAKE_TOKEN });
 * process.on("SIGTERM", () => void server.close());
 * ```
 */
export async function startServer(
  client: Client,
  options: StartServerOptions = {},
): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  if (!options.token && !isLoopback(host)) {
    throw new ValidationError(
      "host",
      `refusing to listen on ${host} without a token: anyone who can reach it could read and cancel every job. ` +
        "Set PGWAKE_TOKEN (every request then needs Authorization: Bearer <token>), or listen on 127.0.0.1",
    );
  }
  const metrics = createMetrics(client);
  const handler = createHandler(client, {
    token: options.token,
    maxBodyBytes: options.maxBodyBytes,
    metrics,
    onError: options.onError,
  });
  let server: RunningServer;
  try {
    server = await serve(handler, { host, port: options.port ?? 4545 });
  } catch (error) {
    // Not listening: nothing may stay subscribed to the client's events.
    handler.close();
    metrics.close();
    throw error;
  }
  return {
    url: server.url,
    close: async (timeoutMs) => {
      await server.close(timeoutMs);
      metrics.close();
    },
  };
}
