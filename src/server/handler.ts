import { createHash, timingSafeEqual } from "node:crypto";
import { Client } from "../client.js";
import { RemoteConsumer } from "../remote-consumer.js";
import { packageVersion } from "../util/version.js";
import { DEFAULT_MAX_BODY_BYTES } from "./body.js";
import type { ServerContext } from "./context.js";
import { dashboardFile } from "./dashboard.js";
import { EventStream } from "./event-stream.js";
import { errorJson, errorResponse, HttpError, json } from "./http-error.js";
import { jobRoutes } from "./job-routes.js";
import { openApiDocument } from "./openapi.js";
import { queueRoutes } from "./queue-routes.js";
import { matchRoute, type Route } from "./router.js";
import { workerRoutes } from "./worker-routes.js";

/** Renders `/metrics` (see `metrics.ts`). */
export interface MetricsSource {
  contentType: string;
  render(): Promise<string>;
}

export interface HandlerOptions {
  /** Every request must present it (`Authorization: Bearer …`, or the dashboard's cookie). */
  token?: string | undefined;
  /** Larger request bodies get 413 (default 1 MiB). */
  maxBodyBytes?: number | undefined;
  /** Serves `GET /metrics` when given. */
  metrics?: MetricsSource | undefined;
  /** Told about requests that failed with a 5xx (default: nothing). */
  onError?: ((error: unknown) => void) | undefined;
}

/** A portable request handler (Fetch API), plus what it holds open. */
export interface Handler {
  (request: Request): Promise<Response>;
  /** The route table (for `/openapi.json` and its test). */
  readonly routes: readonly Route[];
  /** Ends event streams and remote-worker bookkeeping; the client stays open. */
  close(): void;
}

const COOKIE = "pgwake_token";

/**
 * The HTTP API, `/metrics`, `/healthz`, `/openapi.json`, `/api/events` and the dashboard, as one
 * `(Request) => Promise<Response>` over a client. `node.ts` serves it with `node:http`; tests call
 * it directly, with no socket.
 *
 * @example
 * ```ts
 * const handler = createHandler(client, { token: process.env.PGWAKE_TOKEN });
 * const response = await handler(new Request("http://local/api/queues"));
 * ```
 */
export function createHandler(client: Client, options: HandlerOptions = {}): Handler {
  const runtime = Client.runtimeOf(client);
  const ctx: ServerContext = {
    client,
    runtime,
    remote: new RemoteConsumer(runtime),
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
  };
  const events = new EventStream(runtime);
  const onError = options.onError ?? (() => undefined);
  const tokenDigest = options.token ? digest(options.token) : undefined;

  const routes: Route[] = [
    ...queueRoutes(ctx),
    ...jobRoutes(ctx),
    ...workerRoutes(ctx),
    {
      method: "GET",
      path: "/api/events",
      summary: "Server-sent events: ready, done (job ids finished), and rate (every second)",
      responses: {
        200: {
          description: "an event stream",
          contentType: "text/event-stream",
          schema: { type: "string" },
        },
      },
      handle: ({ request }) => events.open(request.signal),
    },
    {
      method: "GET",
      path: "/healthz",
      summary: "200 when the database answers and notifications flow; 503 otherwise",
      responses: {
        200: { description: "healthy", schema: { type: "object" } },
        503: { description: "unhealthy", schema: { type: "object" } },
      },
      handle: async () => {
        const health = await client.health();
        return json(health, health.ok ? 200 : 503);
      },
    },
    {
      method: "GET",
      path: "/openapi.json",
      summary: "This document",
      responses: { 200: { description: "OpenAPI 3.1", schema: { type: "object" } } },
      handle: () => json(openApiDocument(routes, packageVersion())),
    },
    ...(options.metrics ? [metricsRoute(options.metrics)] : []),
    {
      method: "GET",
      path: "/",
      summary: "The web dashboard",
      responses: {
        200: { description: "HTML", contentType: "text/html", schema: { type: "string" } },
      },
      handle: () => file("index.html"),
    },
    {
      method: "GET",
      path: "/dashboard/:file",
      summary: "The dashboard's scripts and styles",
      responses: { 200: { description: "a static file" }, 404: { description: "no such file" } },
      handle: ({ params }) => file(params.file!),
    },
  ];

  const handler = async (request: Request): Promise<Response> => {
    try {
      const url = new URL(request.url);
      if (tokenDigest) authorise(request, url, tokenDigest);
      const { match, allowed } = matchRoute(routes, request.method, url.pathname);
      if (!match) {
        if (allowed.length > 0) {
          const response = errorJson(
            405,
            "METHOD_NOT_ALLOWED",
            `${request.method} ${url.pathname} is not allowed; use ${allowed.join(" or ")}`,
          );
          response.headers.set("allow", allowed.join(", "));
          return response;
        }
        return errorJson(
          404,
          "NOT_FOUND",
          `no route for ${request.method} ${url.pathname}; GET /openapi.json lists them`,
        );
      }
      const response = await match.route.handle({
        request,
        params: match.params,
        query: url.searchParams,
      });
      return request.method === "HEAD" ? new Response(null, response) : response;
    } catch (error) {
      if (error instanceof HttpError && error.status === 401) return unauthorised(request, error);
      return errorResponse(error, onError);
    }
  };
  return Object.assign(handler, {
    routes,
    close: () => {
      events.close();
      ctx.remote.stop();
    },
  });
}

function metricsRoute(metrics: MetricsSource): Route {
  return {
    method: "GET",
    path: "/metrics",
    summary: "Prometheus metrics",
    responses: {
      200: {
        description: "text exposition format",
        contentType: "text/plain",
        schema: { type: "string" },
      },
    },
    handle: async () =>
      new Response(await metrics.render(), { headers: { "content-type": metrics.contentType } }),
  };
}

function file(name: string): Response {
  const found = dashboardFile(name);
  if (!found)
    return errorJson(404, "NOT_FOUND", `the dashboard has no file ${JSON.stringify(name)}`);
  return new Response(found.body, {
    headers: { "content-type": found.type, "cache-control": "no-cache" },
  });
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** A cookie's value as the sign-in wrote it; a malformed one (a stray `%`) is just wrong. */
function cookieValue(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * Checks the token: `Authorization: Bearer <token>`, or the cookie the dashboard's sign-in sets.
 * A cookie alone cannot change anything: requests other than GET must also carry the dashboard's
 * header, which another site's page cannot add without the server's consent (no CORS here).
 */
function authorise(request: Request, url: URL, expected: Buffer): void {
  const header = request.headers.get("authorization") ?? "";
  const bearer = /^Bearer\s+(.+)$/i.exec(header)?.[1];
  const cookie = /(?:^|;\s*)pgwake_token=([^;]*)/.exec(request.headers.get("cookie") ?? "")?.[1];
  const presented = bearer ?? (cookie === undefined ? undefined : cookieValue(cookie));
  if (presented === undefined || !timingSafeEqual(digest(presented), expected)) {
    throw new HttpError(
      401,
      "UNAUTHORIZED",
      presented === undefined
        ? `${url.pathname} needs the server's token: send Authorization: Bearer <PGWAKE_TOKEN>`
        : "the token does not match the server's PGWAKE_TOKEN",
    );
  }
  if (
    bearer === undefined &&
    !["GET", "HEAD"].includes(request.method) &&
    request.headers.get("x-pgwake-dashboard") !== "1"
  ) {
    throw new HttpError(
      403,
      "FORBIDDEN",
      "a cookie-authenticated change must come from the dashboard (x-pgwake-dashboard: 1)",
    );
  }
}

/** 401: JSON for programs; for a browser asking for a page, a sign-in form that sets the cookie. */
function unauthorised(request: Request, error: HttpError): Response {
  const wantsHtml =
    request.method === "GET" && (request.headers.get("accept") ?? "").includes("text/html");
  if (!wantsHtml) {
    const response = errorJson(401, error.httpCode, error.message);
    response.headers.set("www-authenticate", 'Bearer realm="pgwake"');
    return response;
  }
  return new Response(SIGN_IN_PAGE, {
    status: 401,
    headers: {
      "content-type": "text/html; charset=utf-8",
      "www-authenticate": 'Bearer realm="pgwake"',
    },
  });
}

const SIGN_IN_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pgwake: sign in</title>
<style>body{font:15px system-ui,sans-serif;max-width:28rem;margin:4rem auto;padding:0 1rem}input,button{font:inherit;padding:.4rem}</style>
</head><body><h1>pgwake</h1>
<p>This server needs its token (<code>PGWAKE_TOKEN</code>).</p>
<form id="f"><input id="t" type="password" placeholder="token" autofocus required> <button>Sign in</button></form>
<script>document.getElementById("f").onsubmit=function(e){e.preventDefault();
document.cookie="${COOKIE}="+encodeURIComponent(document.getElementById("t").value)+"; path=/; SameSite=Strict";location.reload();};</script>
</body></html>`;
