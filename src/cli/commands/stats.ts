import type { QueueInfo } from "../../db/rows.js";
import { JSON_OPTION } from "../args.js";
import { CliError, type Command } from "../command.js";
import { withClient } from "../connect.js";
import { prettyJson } from "../format.js";
import { table } from "../table.js";

/** One queue's jobs by state; `delayed` and `waiting` are counted in `queued` too. */
interface Counts {
  queued: number;
  delayed: number;
  waiting: number;
  running: number;
  completed: number;
  failed: number;
  cancelled: number;
}

const STATES = [
  "queued",
  "delayed",
  "waiting",
  "running",
  "completed",
  "failed",
  "cancelled",
] as const;

/**
 * `pgwake stats`.
 *
 * @example
 * ```sh
 * pgwake stats --queue emails
 * ```
 */
export const statsCommand: Command = {
  name: "stats",
  summary: "count jobs by queue and state",
  description:
    "Counts the jobs of each queue (or of --queue) by state, with a total. DELAYED (waiting for their time " +
    "or a retry) and WAITING (for the jobs they run after) are part of QUEUED. " +
    "--json prints { queues: { NAME: counts }, total: counts }.",
  options: [{ name: "queue", value: "QUEUE", description: "only this queue" }, JSON_OPTION],
  database: true,
  async run(args, io) {
    const only = args.string("queue");
    const queues = await withClient(args, io, async (client) => {
      if (only === undefined) return client.queues();
      const info = await client.queueInfo(only);
      if (!info) {
        throw new CliError(
          `queue "${only}" does not exist in schema "${client.schema}": pgwake queues lists them`,
        );
      }
      return [info];
    });
    const rows = queues.map((q) => [q.name, countsOf(q)] as const);
    const total = Object.fromEntries(
      STATES.map((state) => [state, rows.reduce((sum, [, counts]) => sum + counts[state], 0)]),
    ) as unknown as Counts;
    if (args.flag("json")) {
      io.stdout(prettyJson({ queues: Object.fromEntries(rows), total }));
      return 0;
    }
    const lines = rows.map(([name, counts]) => [name, ...STATES.map((state) => counts[state])]);
    if (rows.length !== 1) lines.push(["total", ...STATES.map((state) => total[state])]);
    io.stdout(table(["QUEUE", ...STATES.map((state) => state.toUpperCase())], lines));
    return 0;
  },
};

function countsOf(q: QueueInfo): Counts {
  const { queued, running, completed, failed, cancelled } = q.counts;
  return { queued, delayed: q.delayed, waiting: q.waiting, running, completed, failed, cancelled };
}
