import { jobActionCommand } from "./job-action.js";

/**
 * `pgwake cancel`.
 *
 * @example
 * ```sh
 * pgwake cancel 01a228d1-f265-700b-8fa1-55327852eccc
 * ```
 */
export const cancelCommand = jobActionCommand({
  name: "cancel",
  summary: "cancel a queued or running job",
  description:
    "Cancels the job ID if it is queued (or delayed, or waiting) or running: a running job's handler is told " +
    "through its signal, and jobs waiting on it are cancelled too. Exits with 1 if it had already finished.",
  act: async (client, queue, id) => (await client.queue(queue).cancel(id)) > 0,
  past: "cancelled",
  states: "queued and running",
  done: "cancelled",
});
