import { PgwakeError, type PgwakeErrorCode } from "../errors.js";

/**
 * A request the HTTP layer refuses (unauthorised, unknown route, body too large or not JSON),
 * answered with `status` and the JSON error shape `{ error: { code: httpCode, message } }`.
 */
export class HttpError extends PgwakeError {
  constructor(
    readonly status: number,
    readonly httpCode: string,
    message: string,
  ) {
    super("HTTP", message);
  }
}

/** The status each pgwake error is answered with. */
const STATUS: Partial<Record<PgwakeErrorCode, number>> = {
  VALIDATION: 400,
  QUEUE_NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  QUEUE_FULL: 429,
  QUEUE_IN_USE: 409,
  LEASE_LOST: 409,
  ABORTED: 408,
  CLIENT_CLOSED: 503,
  DATABASE: 503,
  SCHEMA_TOO_NEW: 503,
  SCHEMA_OUTDATED: 503,
};

/**
 * The response for anything a route threw. pgwake's own errors keep their code and message (they
 * say what to do); anything else is a 500 whose message hides the details (no stack, no SQL),
 * which `onUnexpected` receives for the server's log.
 */
export function errorResponse(error: unknown, onUnexpected: (error: unknown) => void): Response {
  if (error instanceof HttpError) return errorJson(error.status, error.httpCode, error.message);
  if (error instanceof PgwakeError) {
    const status = STATUS[error.code] ?? 500;
    if (status >= 500) onUnexpected(error);
    // A database error's message can quote SQL or connection details: say only what happened.
    const message =
      error.code === "DATABASE"
        ? "the database did not answer or refused the statement; see the server's log"
        : error.message;
    return errorJson(status, error.code, message);
  }
  onUnexpected(error);
  return errorJson(500, "INTERNAL", "the server failed to handle this request; see its log");
}

export function errorJson(status: number, code: string, message: string): Response {
  return json({ error: { code, message } }, status);
}

/** A JSON response (Dates as ISO strings). */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}
