import { isPlainObject } from "../util/checks.js";
import { HttpError } from "./http-error.js";

/** The default limit on request bodies. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

/**
 * Reads a JSON object body, refusing more than `maxBytes` (413) before reading it all, a body that
 * is not JSON (400, 415), and anything but an object. An empty body reads as `{}`.
 */
export async function readJsonObject(
  request: Request,
  maxBytes: number,
): Promise<Record<string, unknown>> {
  const declared = Number(request.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) throw tooLarge(maxBytes);
  const text = await readText(request, maxBytes);
  if (text.trim() === "") return {};
  const type = request.headers.get("content-type") ?? "";
  if (type !== "" && !/^application\/([\w.+-]*\+)?json\b/i.test(type)) {
    throw new HttpError(
      415,
      "UNSUPPORTED_MEDIA_TYPE",
      `expected a JSON body (content-type: application/json), got ${JSON.stringify(type)}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new HttpError(
      400,
      "VALIDATION",
      `the body is not valid JSON (${(error as Error).message}): send a JSON object`,
    );
  }
  if (!isPlainObject(value)) {
    throw new HttpError(400, "VALIDATION", "expected the body to be a JSON object");
  }
  return value;
}

async function readText(request: Request, maxBytes: number): Promise<string> {
  if (!request.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(
    413,
    "PAYLOAD_TOO_LARGE",
    `the body is larger than ${maxBytes} bytes: send less, or raise the server's body limit (--max-body)`,
  );
}
