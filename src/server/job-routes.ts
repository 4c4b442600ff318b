import { JobCancelledError, JobFailedError, JobNotFoundError, ValidationError } from "../errors.js";
import { checkDuration, checkJobId, checkOptions, checkQueueName } from "../options.js";
import type { Queue } from "../queue.js";
import { invalid as refuse, isPlainObject } from "../util/checks.js";
import type { Duration } from "../util/duration.js";
import type { Json } from "../util/json.js";
import { timeoutSignal } from "../util/timer.js";
import { readJsonObject } from "./body.js";
import type { ServerContext } from "./context.js";
import { json } from "./http-error.js";
import type { Route } from "./router.js";
import {
  durationSchema,
  errorSchema,
  jobSchema,
  object,
  outcomeSchema,
  scheduleSchema,
  itemOptionsSchema,
  sendOptionsSchema,
} from "./schemas.js";

/** The longest `?wait=` a request may ask for. */
export const MAX_WAIT_MS = 5 * 60_000;

const invalid = { description: "bad input; nothing was written", schema: errorSchema };
const jobNotFound = { description: "no such job", schema: errorSchema };

/** Send options that only make sense in-process. */
const IN_PROCESS_OPTIONS = ["tx", "signal"];

/** `?wait=` as milliseconds (0 when absent). */
export function waitOf(query: URLSearchParams): number {
  const raw = query.get("wait");
  if (raw === null) return 0;
  const value = /^\d+$/.test(raw) ? Number(raw) : raw;
  return checkDuration(value, "?wait", MAX_WAIT_MS);
}

function sendOptions(value: unknown, field: string): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) throw new ValidationError(field, `expected ${field} to be an object`);
  for (const key of IN_PROCESS_OPTIONS) {
    if (key in value) {
      throw new ValidationError(
        `${field}.${key}`,
        `${field}.${key} is not available over HTTP: it only makes sense inside a Node.js process`,
      );
    }
  }
  // JSON has no dates: runAt arrives as a date-time string, as the OpenAPI document says.
  if (typeof value.runAt === "string") {
    const runAt = new Date(value.runAt);
    if (!ISO_DATE_TIME.test(value.runAt) || Number.isNaN(runAt.getTime())) {
      refuse(
        `${field}.runAt`,
        'a date-time with its offset, such as "2030-01-01T09:00:00Z"',
        value.runAt,
      );
    }
    return { ...value, runAt };
  }
  return value;
}

/** RFC 3339 date-times; the offset is required, so the time never depends on the server's zone. */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i;

/** What became of a job, for `?wait=`: its outcome once finished, else its state now. */
async function outcome(queue: Queue, id: string, waitMs: number, signal: AbortSignal) {
  const done = queue.completion(id).then(
    (result) => ({ id, state: "completed", result }),
    (error: unknown) => {
      if (error instanceof JobFailedError) {
        return { id, state: "failed", error: error.error, attempts: error.attempts };
      }
      if (error instanceof JobCancelledError) return { id, state: "cancelled" };
      throw error;
    },
  );
  const gaveUp = AbortSignal.any([signal, timeoutSignal(waitMs)]);
  const timedOut = new Promise<null>((resolve) => {
    if (gaveUp.aborted) resolve(null);
    gaveUp.addEventListener("abort", () => resolve(null), { once: true });
  });
  const finished = await Promise.race([done, timedOut]);
  if (finished) return { status: 200, body: finished as Record<string, Json> };
  done.catch(() => undefined);
  const info = await queue.get(id);
  return { status: 202, body: { id, state: info?.state ?? "queued" } };
}

/** Sending, listing, reading, cancelling and retrying jobs; schedules. */
export function jobRoutes(ctx: ServerContext): Route[] {
  const { client } = ctx;
  const findJob = async (id: string) => {
    const job = await client.job(checkJobId(id));
    if (!job) throw new JobNotFoundError(id, "no job has this id (or retention deleted it)");
    return job;
  };
  return [
    {
      method: "POST",
      path: "/api/queues/:name/jobs",
      summary:
        "Sends a job ({ payload, options }) or a batch ({ jobs: [{ payload, options }] }); with ?wait= answers once it finished",
      query: {
        wait: {
          schema: durationSchema,
          description:
            "wait this long (at most 5m) for the job to finish: 200 with its outcome, or 202 with its state if it has not",
        },
      },
      body: {
        oneOf: [
          object({ payload: {}, options: sendOptionsSchema }, ["payload"]),
          object(
            {
              jobs: {
                type: "array",
                items: object({ payload: {}, options: itemOptionsSchema }, ["payload"]),
              },
              timeout: {
                ...durationSchema,
                description: "how long the batch may wait for room in a bounded queue",
              },
            },
            ["jobs"],
          ),
        ],
      },
      responses: {
        201: {
          description: "enqueued: { id }, or { ids } for a batch",
          schema: object({ id: { type: "string" }, ids: { type: "array" } }),
        },
        200: { description: "with ?wait=: the job finished", schema: outcomeSchema },
        202: { description: "with ?wait=: not finished yet", schema: outcomeSchema },
        400: invalid,
        404: { description: "no such queue", schema: errorSchema },
        429: {
          description: "the bounded queue stayed full until the timeout",
          schema: errorSchema,
        },
      },
      handle: async ({ request, params, query }) => {
        const queue = client.queue(checkQueueName(params.name));
        const waitMs = waitOf(query);
        const body = await readJsonObject(request, ctx.maxBodyBytes);
        if ("jobs" in body) {
          const { timeout } = checkOptions<{ jobs: unknown; timeout?: Duration }>(body, "body", [
            "jobs",
            "timeout",
          ]);
          if (!Array.isArray(body.jobs)) {
            throw new ValidationError(
              "body.jobs",
              "expected body.jobs to be an array of { payload, options }",
            );
          }
          if (waitMs > 0) throw new ValidationError("?wait", "?wait= takes one job, not a batch");
          const items = body.jobs.map((item: unknown, index) => {
            const field = `body.jobs[${index}]`;
            const checked = checkOptions<{ payload: Json; options: unknown }>(item, field, [
              "payload",
              "options",
            ]);
            if (!("payload" in (item as object)))
              throw new ValidationError(`${field}.payload`, `${field} needs a payload`);
            return {
              payload: checked.payload as Json,
              options: sendOptions(checked.options, `${field}.options`),
            };
          });
          // A caller that hangs up stops waiting for room in a bounded queue.
          const ids = await queue.sendMany(items, {
            signal: request.signal,
            ...(timeout === undefined ? {} : { timeout: checkDuration(timeout, "body.timeout") }),
          });
          return json({ ids }, 201);
        }
        checkOptions(body, "body", ["payload", "options"]);
        if (!("payload" in body)) {
          throw new ValidationError(
            "body.payload",
            'expected a body of { "payload": …, "options": {…} }',
          );
        }
        const sent = queue.send(body.payload as Json, {
          ...sendOptions(body.options, "body.options"),
          signal: request.signal,
        });
        const id = await sent;
        if (waitMs === 0) return json({ id }, 201);
        const { status, body: answer } = await outcome(queue, id, waitMs, request.signal);
        return json(answer, status);
      },
    },
    {
      method: "GET",
      path: "/api/jobs",
      summary: "A page of jobs, newest first; pass nextCursor as cursor for the next page",
      query: {
        queue: { schema: { type: "string" }, description: "only jobs of this queue" },
        state: {
          schema: { enum: ["queued", "running", "completed", "failed", "cancelled"] },
          description: "only jobs in this state",
        },
        limit: {
          schema: { type: "integer", minimum: 1, maximum: 1000 },
          description: "page size (default 50)",
        },
        cursor: { schema: { type: "string" }, description: "the previous page's nextCursor" },
      },
      responses: {
        200: {
          description: "the page",
          schema: object({
            jobs: { type: "array", items: jobSchema },
            nextCursor: { type: ["string", "null"] },
          }),
        },
        400: invalid,
      },
      handle: async ({ query }) => {
        const limit = query.get("limit");
        const page = await client.jobs({
          queue: query.get("queue") ?? undefined,
          state: (query.get("state") ?? undefined) as never,
          limit:
            limit === null ? undefined : /^\d+$/.test(limit) ? Number(limit) : (limit as never),
          cursor: query.get("cursor") ?? undefined,
        });
        return json(page);
      },
    },
    {
      method: "GET",
      path: "/api/jobs/:id",
      summary: "One job: state, payload, attributes, attempts, timestamps, result and errors",
      responses: {
        200: { description: "the job", schema: object({ job: jobSchema }) },
        404: jobNotFound,
      },
      handle: async ({ params }) => json({ job: await findJob(params.id!) }),
    },
    {
      method: "POST",
      path: "/api/jobs/:id/cancel",
      summary: "Cancels a queued or running job (a running handler's signal aborts)",
      responses: {
        200: {
          description: "cancelled: false when it had already finished",
          schema: object({ cancelled: { type: "boolean" } }),
        },
        404: jobNotFound,
      },
      handle: async ({ params }) => {
        const job = await findJob(params.id!);
        return json({ cancelled: (await client.queue(job.queue).cancel(job.id)) > 0 });
      },
    },
    {
      method: "POST",
      path: "/api/jobs/:id/retry",
      summary: "Requeues a failed or cancelled job with a fresh set of attempts",
      responses: {
        200: {
          description: "retried: false unless it was failed or cancelled",
          schema: object({ retried: { type: "boolean" } }),
        },
        404: jobNotFound,
      },
      handle: async ({ params }) => {
        const job = await findJob(params.id!);
        return json({ retried: await client.queue(job.queue).retry(job.id) });
      },
    },
    {
      method: "GET",
      path: "/api/schedules",
      summary: "Every periodic schedule with its next and last run",
      responses: {
        200: {
          description: "the schedules",
          schema: object({ schedules: { type: "array", items: scheduleSchema } }),
        },
      },
      handle: async () => json({ schedules: await client.schedules() }),
    },
  ];
}
