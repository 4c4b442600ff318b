import { QueueNotFoundError, ValidationError } from "../errors.js";
import { checkOptions, checkQueueName } from "../options.js";
import { isPlainObject } from "../util/checks.js";
import { readJsonObject } from "./body.js";
import type { ServerContext } from "./context.js";
import { json } from "./http-error.js";
import { queueJson, queueOptions } from "./representation.js";
import type { Route } from "./router.js";
import {
  errorSchema,
  object,
  queueChangesSchema,
  queueOptionsSchema,
  queueSchema,
} from "./schemas.js";

const notFound = { description: "no such queue", schema: errorSchema };
const invalid = { description: "bad input; nothing was written", schema: errorSchema };

/** `{ options: {...} }`, or the options themselves at the top level (besides `name`). */
function optionsOf(body: Record<string, unknown>, field: string): Record<string, unknown> {
  const { name: _name, ...rest } = body;
  if ("options" in rest) {
    checkOptions(rest, field, ["options"]);
    if (rest.options === undefined || rest.options === null) return {};
    if (!isPlainObject(rest.options)) {
      throw new ValidationError(`${field}.options`, `expected ${field}.options to be an object`);
    }
    return rest.options;
  }
  return rest;
}

/** `GET|POST /api/queues`, `GET|PATCH|DELETE /api/queues/:name`. */
export function queueRoutes(ctx: ServerContext): Route[] {
  const { client } = ctx;
  const read = async (name: string) => {
    const info = await client.queueInfo(name);
    if (!info) throw new QueueNotFoundError(name);
    return info;
  };
  return [
    {
      method: "GET",
      path: "/api/queues",
      summary: "Every queue with its options and its jobs counted by state",
      responses: {
        200: {
          description: "the queues",
          schema: object({ queues: { type: "array", items: queueSchema } }),
        },
      },
      handle: async () => json({ queues: (await client.queues()).map(queueJson) }),
    },
    {
      method: "POST",
      path: "/api/queues",
      summary: "Creates a queue, or updates its options (options left out take their defaults)",
      body: object({ name: { type: "string" }, options: queueOptionsSchema }, ["name"]),
      responses: {
        201: { description: "the queue", schema: object({ queue: queueSchema }) },
        400: invalid,
      },
      handle: async ({ request }) => {
        const body = await readJsonObject(request, ctx.maxBodyBytes);
        const name = checkQueueName(body.name, "body.name");
        await client.createQueue(name, optionsOf(body, "body"));
        return json({ queue: queueJson(await read(name)) }, 201);
      },
    },
    {
      method: "GET",
      path: "/api/queues/:name",
      summary: "One queue with its options and counts",
      responses: {
        200: { description: "the queue", schema: object({ queue: queueSchema }) },
        404: notFound,
      },
      handle: async ({ params }) =>
        json({ queue: queueJson(await read(checkQueueName(params.name))) }),
    },
    {
      method: "PATCH",
      path: "/api/queues/:name",
      summary:
        "Changes some of a queue's options, keeping the others (null removes maxSize or deadLetter)",
      body: object({ options: queueChangesSchema }),
      responses: {
        200: { description: "the queue", schema: object({ queue: queueSchema }) },
        400: invalid,
        404: notFound,
      },
      handle: async ({ request, params }) => {
        const name = checkQueueName(params.name);
        const changes = optionsOf(await readJsonObject(request, ctx.maxBodyBytes), "body");
        const current = queueOptions(await read(name));
        const merged: Record<string, unknown> = { ...current, ...changes };
        // backoff is changed field by field too: {"backoff": {"delay": 5000}} keeps factor and max.
        if (isPlainObject(changes.backoff))
          merged.backoff = { ...current.backoff, ...changes.backoff };
        for (const key of ["maxSize", "deadLetter"]) if (merged[key] === null) delete merged[key];
        await client.createQueue(name, merged);
        return json({ queue: queueJson(await read(name)) });
      },
    },
    {
      method: "DELETE",
      path: "/api/queues/:name",
      summary:
        "Deletes an idle queue and its finished jobs (409 while it has unfinished jobs, a schedule, or a queue dead-lettering into it)",
      responses: {
        204: { description: "deleted" },
        404: notFound,
        409: { description: "the queue is still in use; nothing was deleted", schema: errorSchema },
      },
      handle: async ({ params }) => {
        const name = checkQueueName(params.name);
        if (!(await client.deleteQueue(name))) throw new QueueNotFoundError(name);
        return new Response(null, { status: 204 });
      },
    },
  ];
}
