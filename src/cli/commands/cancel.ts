import { CliError, type Command } from "../command.js";
import { withClient } from "../connect.js";
import { findJob, jobId } from "./job.js";

/**
 * `pgwake cancel`.
 *
 * @example
 * ```sh
 * pgwake cancel 01a228d1-f265-700b-8fa1-55327852eccc
 * ```
 */
export const cancelCommand: Command = {
  name: "cancel",
  summary: "cancel a queued or running job",
  positionals: ["ID"],
  description:
    "Cancels the job ID if it is queued (or delayed, or waiting) or running: a running job's handler is told " +
    "through its signal, and jobs waiting on it are cancelled too. Exits with 1 if it had already finished.",
  options: [],
  database: true,
  async run(args, io) {
    const id = jobId(args.positionals[0]!);
    const queue = await withClient(args, io, async (client) => {
      const job = await findJob(client, id);
      if ((await client.queue(job.queue).cancel(id)) === 0) {
        const now = (await client.job(id))?.state ?? job.state;
        throw new CliError(
          `job ${id} was not cancelled: it is ${now}, and only queued and running jobs can be cancelled`,
        );
      }
      return job.queue;
    });
    io.stdout(`cancelled job ${id} (queue "${queue}")`);
    return 0;
  },
};
