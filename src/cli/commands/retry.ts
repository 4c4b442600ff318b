import { jobActionCommand } from "./job-action.js";

/**
 * `pgwake retry`.
 *
 * @example
 * ```sh
 * pgwake retry 01a228d1-f265-700b-8fa1-55327852eccc
 * ```
 */
export const retryCommand = jobActionCommand({
  name: "retry",
  summary: "requeue a failed or cancelled job",
  description:
    "Puts the failed or cancelled job ID back in its queue with a fresh set of attempts. Exits with 1 " +
    "if it is in another state.",
  act: (client, queue, id) => client.queue(queue).retry(id),
  past: "retried",
  states: "failed and cancelled",
  done: "requeued",
});
