import { queueJson } from "../../server/representation.js";
import { JSON_OPTION } from "../args.js";
import type { Command } from "../command.js";
import { withClient } from "../connect.js";
import { duration, prettyJson } from "../format.js";
import { table } from "../table.js";

/**
 * `pgwake queues`.
 *
 * @example
 * ```sh
 * pgwake queues --json
 * ```
 */
export const queuesCommand: Command = {
  name: "queues",
  summary: "list the queues with their jobs by state and their options",
  description:
    "Lists every queue: its jobs by state (delayed and waiting jobs count as queued) and its options. " +
    "--json prints what GET /api/queues returns.",
  options: [JSON_OPTION],
  database: true,
  async run(args, io) {
    const { schema, queues } = await withClient(args, io, async (client) => ({
      schema: client.schema,
      queues: await client.queues(),
    }));
    if (args.flag("json")) {
      io.stdout(prettyJson({ queues: queues.map(queueJson) }));
      return 0;
    }
    if (queues.length === 0) {
      io.stdout(`no queues in schema "${schema}" yet: create one with pgwake create-queue NAME`);
      return 0;
    }
    io.stdout(
      table(
        [
          "QUEUE",
          "QUEUED",
          "RUNNING",
          "COMPLETED",
          "FAILED",
          "CANCELLED",
          "ATTEMPTS",
          "LEASE",
          "BACKOFF",
          "MAX SIZE",
          "DEAD LETTER",
          "RETENTION",
        ],
        queues.map((q) => [
          q.name,
          q.counts.queued,
          q.counts.running,
          q.counts.completed,
          q.counts.failed,
          q.counts.cancelled,
          q.maxAttempts,
          duration(q.leaseMs),
          `${duration(q.backoffDelayMs)}×${q.backoffFactor} max ${duration(q.backoffMaxMs)}`,
          q.maxSize,
          q.deadLetter,
          duration(q.retentionMs),
        ]),
      ),
    );
    return 0;
  },
};
