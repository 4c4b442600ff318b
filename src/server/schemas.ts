/**
 * JSON Schema fragments for `/openapi.json`: what the routes take and give back.
 */
import type { Schema } from "./router.js";

const duration: Schema = {
  oneOf: [
    { type: "integer", minimum: 0, description: "milliseconds" },
    { type: "string", description: 'an ms duration: "30s", "5m"' },
  ],
};

export const errorSchema: Schema = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["code", "message"],
      properties: { code: { type: "string" }, message: { type: "string" } },
    },
  },
};

export const queueOptionsSchema: Schema = {
  type: "object",
  additionalProperties: false,
  properties: {
    maxAttempts: { type: "integer", minimum: 1 },
    backoff: {
      type: "object",
      additionalProperties: false,
      properties: { delay: duration, factor: { type: "number", minimum: 1 }, max: duration },
    },
    leaseTime: duration,
    maxSize: { type: "integer", minimum: 1 },
    deadLetter: { type: "string" },
    retention: duration,
  },
};

/** A change to a queue's options (PATCH): null removes the bound or the dead-letter queue. */
export const queueChangesSchema: Schema = {
  ...queueOptionsSchema,
  properties: {
    ...(queueOptionsSchema.properties as Schema),
    maxSize: { type: ["integer", "null"], minimum: 1 },
    deadLetter: { type: ["string", "null"] },
  },
};

const counts: Schema = {
  type: "object",
  properties: Object.fromEntries(
    ["queued", "running", "completed", "failed", "cancelled"].map((s) => [s, { type: "integer" }]),
  ),
};

export const queueSchema: Schema = {
  type: "object",
  properties: {
    name: { type: "string" },
    ...(queueOptionsSchema.properties as Schema),
    counts,
    delayed: { type: "integer", description: "queued jobs waiting for their run time" },
    waiting: { type: "integer", description: "queued jobs waiting for their dependencies" },
    createdAt: { type: "string", format: "date-time" },
    updatedAt: { type: "string", format: "date-time" },
  },
};

export const sendOptionsSchema: Schema = {
  type: "object",
  additionalProperties: false,
  properties: {
    delay: duration,
    runAt: { type: "string", format: "date-time" },
    priority: { type: "integer" },
    attributes: {
      type: "object",
      additionalProperties: { type: ["string", "number", "boolean", "null"] },
    },
    after: { type: "array", items: { type: "string", format: "uuid" } },
    key: { type: "string" },
    maxAttempts: { type: "integer", minimum: 1 },
    timeout: duration,
  },
};

/** A batch item's options: the batch waits for room as one (`timeout` beside `jobs`). */
export const itemOptionsSchema: Schema = {
  ...sendOptionsSchema,
  properties: Object.fromEntries(
    Object.entries(sendOptionsSchema.properties as Record<string, Schema>).filter(
      ([key]) => key !== "timeout",
    ),
  ),
};

const storedError: Schema = {
  type: "object",
  properties: { name: { type: "string" }, message: { type: "string" }, stack: { type: "string" } },
};

export const jobSchema: Schema = {
  type: "object",
  properties: {
    id: { type: "string", format: "uuid" },
    queue: { type: "string" },
    state: { enum: ["queued", "running", "completed", "failed", "cancelled"] },
    priority: { type: "integer" },
    runAt: { type: "string", format: "date-time" },
    payload: {},
    attributes: { type: ["object", "null"] },
    attempt: { type: "integer" },
    maxAttempts: { type: ["integer", "null"] },
    result: {},
    errors: { type: "array", items: storedError },
    lastError: { oneOf: [storedError, { type: "null" }] },
    leasedBy: { type: ["string", "null"] },
    leaseExpiresAt: { type: ["string", "null"], format: "date-time" },
    createdAt: { type: "string", format: "date-time" },
    startedAt: { type: ["string", "null"], format: "date-time" },
    finishedAt: { type: ["string", "null"], format: "date-time" },
  },
};

export const remoteJobSchema: Schema = {
  type: "object",
  properties: {
    id: { type: "string", format: "uuid" },
    queue: { type: "string" },
    payload: {},
    attributes: { type: "object" },
    attempt: { type: "integer" },
    leaseToken: {
      type: "string",
      format: "uuid",
      description: "present it to heartbeat, ack and nack",
    },
    leaseExpiresAt: { type: "string", format: "date-time" },
    leaseMs: { type: "integer", description: "heartbeat every third of this" },
  },
};

export const outcomeSchema: Schema = {
  type: "object",
  required: ["id", "state"],
  properties: {
    id: { type: "string", format: "uuid" },
    state: { enum: ["queued", "running", "completed", "failed", "cancelled"] },
    result: { description: "the worker's result, when completed" },
    error: { ...storedError, description: "the last error, when failed" },
    attempts: { type: "integer", description: "when failed" },
  },
};

export const scheduleSchema: Schema = {
  type: "object",
  properties: {
    name: { type: "string" },
    queue: { type: "string" },
    cron: { type: ["string", "null"] },
    everyMs: { type: ["integer", "null"] },
    timezone: { type: ["string", "null"] },
    payload: {},
    nextRunAt: { type: "string", format: "date-time" },
    lastRunAt: { type: ["string", "null"], format: "date-time" },
    lastJobId: { type: ["string", "null"] },
  },
};

export const durationSchema = duration;

/** `{ [key]: schema }` as an object schema. */
export function object(properties: Record<string, Schema>, required: string[] = []): Schema {
  return { type: "object", properties, required };
}
