/* global fetch, URLSearchParams */
/**
 * The dashboard's calls to the pgwake HTTP API. Same-origin fetches carry the `pgwake_token`
 * cookie that the server's sign-in page sets; changes also carry `x-pgwake-dashboard: 1`, which
 * the server requires of cookie-authenticated requests other than GET.
 */

/** An API error: the server's `{ error: { code, message } }`, or a network failure (status 0). */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

const unauthorisedListeners = new Set();

/** Calls `listener(error)` whenever the server answers 401 (the token is missing or wrong). */
export function onUnauthorised(listener) {
  unauthorisedListeners.add(listener);
}

/** Tells the listeners that the server wants the token. */
export function reportUnauthorised(error) {
  for (const listener of unauthorisedListeners) listener(error);
}

/**
 * Calls the API and returns its JSON. Throws {@link ApiError} with the server's code and message
 * on a 4xx/5xx, and with code `NETWORK` when the server cannot be reached.
 */
export async function api(path, { method = "GET", body, signal } = {}) {
  const headers = { accept: "application/json" };
  if (method !== "GET") headers["x-pgwake-dashboard"] = "1";
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    throw new ApiError(
      0,
      "NETWORK",
      `the server did not answer ${method} ${path} (${error?.message ?? error}): is pgwake still running?`,
    );
  }
  const text = await response.text();
  const data = parseJson(text);
  if (!response.ok) {
    const error = new ApiError(
      response.status,
      data?.error?.code ?? `HTTP_${response.status}`,
      data?.error?.message ??
        `${method} ${path} answered ${response.status} ${response.statusText}`,
    );
    if (response.status === 401) reportUnauthorised(error);
    throw error;
  }
  return data;
}

/** The JSON in `text`, or null when it is empty or not JSON (a proxy's error page, say). */
function parseJson(text) {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

/** A query string from the entries whose value is not empty. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
