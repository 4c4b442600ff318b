import { CliError, type Command } from "../command.js";
import { withClient } from "../connect.js";
import { findJob, jobId } from "./job.js";

/**
 * `pgwake retry`.
 *
 * @example
 * ```sh
 * pgwake retry 01a228d1-f265-700b-8fa1-55327852eccc
 * ```
 */
export const retryCommand: Command = {
  name: "retry",
  summary: "requeue a failed or cancelled job",
  positionals: ["ID"],
  description:
    "Puts the failed or cancelled job ID back in its queue with a fresh set of attempts. Exits with 1 " +
    "if it is in another state.",
  options: [],
  database: true,
  async run(args, io) {
    const id = jobId(args.positionals[0]!);
    const queue = await withClient(args, io, async (client) => {
      const job = await findJob(client, id);
      if (!(await client.queue(job.queue).retry(id))) {
        const now = (await client.job(id))?.state ?? job.state;
        throw new CliError(
          `job ${id} was not retried: it is ${now}, and only failed and cancelled jobs can be retried`,
        );
      }
      return job.queue;
    });
    io.stdout(`requeued job ${id} (queue "${queue}")`);
    return 0;
  },
};
