import { ValidationError } from "../errors.js";
import { checkDuration, checkJobId, checkOptions, checkQueueName } from "../options.js";
import { checkAttributes, checkInteger, isPlainObject, optional } from "../util/checks.js";
import { toJsonText, type Json } from "../util/json.js";
import { readJsonObject } from "./body.js";
import type { ServerContext } from "./context.js";
import { json } from "./http-error.js";
import { MAX_WAIT_MS, waitOf } from "./job-routes.js";
import type { Route } from "./router.js";
import { durationSchema, errorSchema, object, remoteJobSchema } from "./schemas.js";

const leaseLost = {
  description:
    "the lease is gone (expired and redelivered, cancelled, or finished): nothing changed",
  schema: errorSchema,
};
const invalid = { description: "bad input; nothing was written", schema: errorSchema };
const token = { type: "string", format: "uuid", description: "the leaseToken the claim returned" };

/**
 * A nack's error: a message, or an object with one (`name`, `stack` and more are kept). Checked
 * like a result: nacks share statements, so text the database cannot store would fail others'.
 */
function storedError(value: unknown, maxBytes: number): Json {
  if (value === undefined) return { message: "nacked over HTTP without an error" };
  if (typeof value === "string") {
    toJsonText(value, "body.error", maxBytes);
    return { message: value };
  }
  if (isPlainObject(value) && typeof value.message === "string") {
    toJsonText(value, "body.error", maxBytes);
    return value as Json;
  }
  throw new ValidationError(
    "body.error",
    'expected body.error to be a message or an object with one ({ "message": "…" })',
  );
}

/**
 * Remote workers: claim jobs with a lease token, heartbeat them, and ack or nack them, each call
 * fenced by the token. A worker that stops heartbeating loses its jobs after the queue's lease
 * time, like any consumer.
 */
export function workerRoutes(ctx: ServerContext): Route[] {
  const { remote, runtime } = ctx;
  const lease = async (request: Request, id: string, keys: string[]) => {
    const jobId = checkJobId(id);
    const body = checkOptions<Record<string, unknown>>(
      await readJsonObject(request, ctx.maxBodyBytes),
      "body",
      ["token", ...keys],
    );
    return {
      id: jobId,
      token: checkJobId(body.token, "body.token (the claim's leaseToken)"),
      body,
    };
  };
  return [
    {
      method: "POST",
      path: "/api/queues/:name/claim",
      summary:
        "Claims up to batch jobs for a remote worker, each with a lease token; waits up to wait for one",
      query: {
        wait: {
          schema: durationSchema,
          description: "long-poll: wait this long (at most 5m) for a job",
        },
      },
      body: object({
        batch: { type: "integer", minimum: 1, maximum: 1000 },
        filter: { type: "object", description: "only jobs whose attributes contain these" },
        wait: durationSchema,
      }),
      responses: {
        200: {
          description: "the jobs (an empty list when none came)",
          schema: object({ jobs: { type: "array", items: remoteJobSchema } }),
        },
        400: invalid,
        404: { description: "no such queue", schema: errorSchema },
      },
      handle: async ({ request, params, query }) => {
        const queue = checkQueueName(params.name);
        const body = checkOptions<{ batch: number; filter: unknown; wait: unknown }>(
          await readJsonObject(request, ctx.maxBodyBytes),
          "body",
          ["batch", "filter", "wait"],
        );
        const waitMs =
          body.wait === undefined
            ? waitOf(query)
            : checkDuration(body.wait, "body.wait", MAX_WAIT_MS);
        const jobs = await remote.claim(queue, {
          batch: optional(body.batch, 1, (v) => checkInteger(v, "body.batch", 1, 1000)),
          filter: optional(body.filter, null, (v) => checkAttributes(v, "body.filter")),
          waitMs,
          signal: request.signal,
          consumer:
            `${runtime.settings.name} for ${request.headers.get("x-pgwake-worker") ?? "an HTTP worker"}`.slice(
              0,
              200,
            ),
        });
        return json({ jobs });
      },
    },
    {
      method: "POST",
      path: "/api/jobs/:id/heartbeat",
      summary: "Extends a remote worker's lease by the queue's lease time",
      body: object({ token }, ["token"]),
      responses: {
        200: {
          description: "the new expiry",
          schema: object({ leaseExpiresAt: { type: "string", format: "date-time" } }),
        },
        400: invalid,
        409: leaseLost,
      },
      handle: async ({ request, params }) => {
        const { id, token: leaseToken } = await lease(request, params.id!, []);
        return json({ leaseExpiresAt: await remote.heartbeat(id, leaseToken) });
      },
    },
    {
      method: "POST",
      path: "/api/jobs/:id/ack",
      summary: "Completes a remotely leased job with its result",
      body: object({ token, result: {} }, ["token"]),
      responses: {
        200: { description: "completed", schema: object({ ok: { type: "boolean" } }) },
        400: invalid,
        409: leaseLost,
      },
      handle: async ({ request, params }) => {
        const { id, token: leaseToken, body } = await lease(request, params.id!, ["result"]);
        const resultText =
          body.result === undefined
            ? "null"
            : toJsonText(body.result, "body.result", runtime.maxPayloadBytes);
        await remote.ack(id, leaseToken, resultText);
        return json({ ok: true });
      },
    },
    {
      method: "POST",
      path: "/api/jobs/:id/nack",
      summary:
        "Fails an attempt of a remotely leased job: retried after backoff (or delay), or failed for good",
      body: object(
        {
          token,
          error: {
            oneOf: [{ type: "string" }, object({ message: { type: "string" } }, ["message"])],
          },
          delay: durationSchema,
        },
        ["token"],
      ),
      responses: {
        200: { description: "recorded", schema: object({ ok: { type: "boolean" } }) },
        400: invalid,
        409: leaseLost,
      },
      handle: async ({ request, params }) => {
        const {
          id,
          token: leaseToken,
          body,
        } = await lease(request, params.id!, ["error", "delay"]);
        const delayMs = optional(body.delay, null, (v) => checkDuration(v, "body.delay"));
        await remote.nack(
          id,
          leaseToken,
          storedError(body.error, runtime.maxPayloadBytes),
          delayMs,
        );
        return json({ ok: true });
      },
    },
  ];
}
