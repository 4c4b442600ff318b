import type { Client } from "../../client.js";
import { CliError, type Command } from "../command.js";
import { withClient } from "../connect.js";
import { findJob, jobId } from "./job.js";

/** What distinguishes `pgwake cancel` from `pgwake retry`. */
interface JobAction {
  name: string;
  summary: string;
  description: string;
  /** Does it; false when the job was not in a state it applies to. */
  act(client: Client, queue: string, id: string): Promise<boolean>;
  /** "cancelled", "retried": for the refusal. */
  past: string;
  /** Which states it applies to, for the refusal: "queued and running". */
  states: string;
  /** What is printed on success: "cancelled", "requeued". */
  done: string;
}

/**
 * A command that acts on one job by id, in whichever queue it is, and exits 1 (saying the job's
 * state) when the job was not in a state the action applies to.
 */
export function jobActionCommand(action: JobAction): Command {
  return {
    name: action.name,
    summary: action.summary,
    positionals: ["ID"],
    description: action.description,
    options: [],
    database: true,
    async run(args, io) {
      const id = jobId(args.positionals[0]!);
      const queue = await withClient(args, io, async (client) => {
        const job = await findJob(client, id);
        if (!(await action.act(client, job.queue, id))) {
          const now = (await client.job(id))?.state ?? job.state;
          throw new CliError(
            `job ${id} was not ${action.past}: it is ${now}, and only ${action.states} jobs can be ${action.past}`,
          );
        }
        return job.queue;
      });
      io.stdout(`${action.done} job ${id} (queue "${queue}")`);
      return 0;
    },
  };
}
