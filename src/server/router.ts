/**
 * A small router: routes are declared once, as data, so the same table serves requests and
 * describes the API in `/openapi.json`.
 */

export type Method = "GET" | "POST" | "PATCH" | "DELETE";

/** What a route handler gets: the request, its path parameters and its query string. */
export interface RouteContext {
  request: Request;
  params: Record<string, string>;
  query: URLSearchParams;
}

/** A JSON Schema fragment, for the OpenAPI document. */
export type Schema = Record<string, unknown>;

export interface Route {
  method: Method;
  /** `/api/queues/:name`: segments starting with `:` are parameters. */
  path: string;
  summary: string;
  /** Query parameters it reads, for the OpenAPI document. */
  query?: Record<string, { schema: Schema; description: string }>;
  /** The JSON body it takes, for the OpenAPI document. */
  body?: Schema;
  /** Responses by status, for the OpenAPI document. */
  responses: Record<number, { description: string; schema?: Schema; contentType?: string }>;
  handle(context: RouteContext): Promise<Response> | Response;
}

export interface Match {
  route: Route;
  params: Record<string, string>;
}

/** Finds the route for a method and path; `allowed` lists the methods the path has otherwise. */
export function matchRoute(
  routes: readonly Route[],
  method: string,
  pathname: string,
): { match: Match | null; allowed: Method[] } {
  const segments = pathname.split("/");
  const allowed: Method[] = [];
  for (const route of routes) {
    const params = matchPath(route.path, segments);
    if (!params) continue;
    if (route.method === method || (method === "HEAD" && route.method === "GET")) {
      return { match: { route, params }, allowed: [] };
    }
    allowed.push(route.method);
  }
  return { match: null, allowed };
}

function matchPath(path: string, segments: string[]): Record<string, string> | null {
  const pattern = path.split("/");
  if (pattern.length !== segments.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const part = pattern[i]!;
    const segment = segments[i]!;
    if (part.startsWith(":")) {
      if (segment === "") return null;
      try {
        params[part.slice(1)] = decodeURIComponent(segment);
      } catch {
        return null; // malformed percent-encoding: no such route
      }
    } else if (part !== segment) {
      return null;
    }
  }
  return params;
}
