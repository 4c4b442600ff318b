import type { JobState } from "../../db/rows.js";
import { JOB_STATES, type JobsQuery } from "../../options.js";
import { JSON_OPTION } from "../args.js";
import { UsageError, type Command } from "../command.js";
import { withClient } from "../connect.js";
import { json, prettyJson, time } from "../format.js";
import { table } from "../table.js";

/**
 * `pgwake jobs`.
 *
 * @example
 * ```sh
 * pgwake jobs --queue emails --state failed --limit 20
 * ```
 */
export const jobsCommand: Command = {
  name: "jobs",
  summary: "list jobs, newest first, a page at a time",
  description:
    "Lists jobs of every queue (or of --queue, in --state), newest first. When there are more, it ends " +
    "with the cursor of the next page: pass it as --cursor. --json prints { jobs, nextCursor }.",
  options: [
    { name: "queue", value: "QUEUE", description: "only jobs of this queue" },
    {
      name: "state",
      value: "STATE",
      description: `only jobs in this state: ${JOB_STATES.join(", ")}`,
    },
    { name: "limit", value: "N", description: "jobs per page, 1-1000 [50]" },
    {
      name: "cursor",
      value: "CURSOR",
      description: "the page after this cursor (printed by the previous page)",
    },
    JSON_OPTION,
  ],
  database: true,
  async run(args, io) {
    const query: JobsQuery = { limit: args.int("limit", 50, 1, 1000) };
    const queue = args.string("queue");
    if (queue !== undefined) query.queue = queue;
    const state = args.string("state");
    if (state !== undefined) {
      if (!JOB_STATES.includes(state as JobState)) {
        throw new UsageError(
          `--state takes one of ${JOB_STATES.join(", ")}, got ${JSON.stringify(state)}`,
        );
      }
      query.state = state as JobState;
    }
    const cursor = args.string("cursor");
    if (cursor !== undefined) query.cursor = cursor;
    const page = await withClient(args, io, (client) => client.jobs(query));
    if (args.flag("json")) {
      io.stdout(prettyJson(page));
      return 0;
    }
    if (page.jobs.length === 0) {
      io.stdout(cursor === undefined ? "no jobs" : "no more jobs");
      return 0;
    }
    const rows = page.jobs.map((job) => [
      job.id,
      job.queue,
      job.state,
      `${job.attempt}/${job.maxAttempts ?? "-"}`,
      job.priority,
      time(job.createdAt),
      json(job.payload, 40),
    ]);
    const lines = [
      table(["ID", "QUEUE", "STATE", "ATTEMPT", "PRIORITY", "CREATED", "PAYLOAD"], rows),
    ];
    if (page.nextCursor) lines.push(`next page: --cursor ${page.nextCursor}`);
    io.stdout(lines.join("\n"));
    return 0;
  },
};
