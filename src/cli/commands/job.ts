import type { Client } from "../../client.js";
import type { JobInfo } from "../../db/rows.js";
import { isUuid } from "../../util/uuid.js";
import { JSON_OPTION } from "../args.js";
import { CliError, UsageError, type Command } from "../command.js";
import { withClient } from "../connect.js";
import { json, prettyJson, time } from "../format.js";
import { keyValues } from "../table.js";

/**
 * `pgwake job`.
 *
 * @example
 * ```sh
 * pgwake job 01a228d1-f265-700b-8fa1-55327852eccc --json
 * ```
 */
export const jobCommand: Command = {
  name: "job",
  summary: "show one job: state, attempts, payload, result, errors",
  positionals: ["ID"],
  description:
    "Shows the job ID, of any queue: its state, attempts, times, payload, result and errors. " +
    "--json prints what GET /api/jobs/:id returns.",
  options: [JSON_OPTION],
  database: true,
  async run(args, io) {
    const id = jobId(args.positionals[0]!);
    const job = await withClient(args, io, (client) => findJob(client, id));
    if (args.flag("json")) {
      io.stdout(prettyJson({ job }));
      return 0;
    }
    io.stdout(describeJob(job));
    return 0;
  },
};

/** The id argument, checked before any connection. */
export function jobId(text: string): string {
  if (!isUuid(text)) {
    throw new UsageError(
      `${JSON.stringify(text)} is not a job id: job ids are UUIDs, as send printed them`,
    );
  }
  return text.toLowerCase();
}

/** The job with this id in any queue, or a CliError saying there is none. */
export async function findJob(client: Client, id: string): Promise<JobInfo> {
  const job = await client.job(id);
  if (!job) {
    throw new CliError(
      `no job has the id ${id} in schema "${client.schema}": it never existed there, or retention deleted it ` +
        "(check --schema and --url)",
    );
  }
  return job;
}

function describeJob(job: JobInfo): string {
  const errors = job.errors.map(
    (error, i) =>
      [`error ${i + 1}`, `${error.name ? `${error.name}: ` : ""}${error.message}`] as [
        string,
        string,
      ],
  );
  return keyValues([
    ["id", job.id],
    ["queue", job.queue],
    ["state", job.state],
    ["attempt", `${job.attempt} of ${job.maxAttempts ?? "-"}`],
    ["priority", job.priority],
    ["run at", time(job.runAt)],
    ["created", time(job.createdAt)],
    ["started", time(job.startedAt)],
    ["finished", time(job.finishedAt)],
    ["leased by", job.leasedBy],
    ["lease expires", time(job.leaseExpiresAt)],
    ["attributes", job.attributes ? json(job.attributes) : null],
    ["payload", json(job.payload)],
    ["result", job.state === "completed" ? json(job.result) : null],
    ...errors,
  ]);
}
