import type { Route, Schema } from "./router.js";

/**
 * The OpenAPI 3.1 document for a route table: every route, its path and query parameters, its
 * body and its responses. Built from the same table that serves requests, so it cannot drift.
 */
export function openApiDocument(
  routes: readonly Route[],
  version: string,
): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:(\w+)/g, "{$1}");
    const parameters = [
      ...[...route.path.matchAll(/:(\w+)/g)].map(([, name]) => ({
        name,
        in: "path",
        required: true,
        schema: { type: "string" },
      })),
      ...Object.entries(route.query ?? {}).map(([name, { schema, description }]) => ({
        name,
        in: "query",
        required: false,
        description,
        schema,
      })),
    ];
    const responses: Record<string, unknown> = {};
    for (const [status, { description, schema, contentType }] of Object.entries(route.responses)) {
      responses[status] = schema
        ? { description, content: { [contentType ?? "application/json"]: { schema } } }
        : { description };
    }
    (paths[path] ??= {})[route.method.toLowerCase()] = {
      summary: route.summary,
      operationId: operationId(route),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: false,
              content: { "application/json": { schema: route.body } },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "pgwake",
      version,
      description:
        "A PostgreSQL job queue: queues, jobs, remote workers and events. Errors are { error: { code, message } }.",
    },
    components: {
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "PGWAKE_TOKEN, when the server has one",
        },
      },
    },
    security: [{ bearer: [] }, {}],
    paths,
  };
}

function operationId(route: Route): string {
  const words = route.path
    .split("/")
    .filter((s) => s && s !== "api")
    .map((s) => (s.startsWith(":") ? `by-${s.slice(1)}` : s));
  return [route.method.toLowerCase(), ...words]
    .join("-")
    .replace(/[^a-zA-Z0-9]+(.)/g, (_m, c: string) => c.toUpperCase());
}

export type { Schema };
