/**
 * Calls the HTTP handler directly (no socket), as Hono's `app.request()` allows: routes are tested
 * as functions from Request to Response.
 */
import type { Client } from "../../src/index.js";
import { createHandler, type Handler, type HandlerOptions } from "../../src/server/handler.js";

export interface ApiResponse {
  status: number;
  headers: Headers;
  /** The parsed JSON body (undefined when empty or not JSON). */
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
  text: string;
}

export interface Api {
  handler: Handler;
  call(
    method: string,
    path: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<ApiResponse>;
}

/** A handler over `client`; closed with the test through `defer`. */
export function apiFor(
  client: Client,
  defer: (cleanup: () => unknown) => void,
  options: HandlerOptions = {},
): Api {
  const handler = createHandler(client, options);
  defer(() => handler.close());
  return {
    handler,
    async call(method, path, body, headers = {}) {
      const init: RequestInit = { method, headers: { ...headers } };
      if (body !== undefined) {
        init.body = typeof body === "string" ? body : JSON.stringify(body);
        (init.headers as Record<string, string>)["content-type"] ??= "application/json";
      }
      const response = await handler(new Request(`http://pgwake.test${path}`, init));
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = undefined;
      }
      return { status: response.status, headers: response.headers, body: parsed, text };
    },
  };
}
