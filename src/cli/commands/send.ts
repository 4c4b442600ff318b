import { JobCancelledError, JobFailedError, QueueNotFoundError } from "../../errors.js";
import type { SendOptions } from "../../options.js";
import type { Args } from "../args.js";
import { CliError, type Command } from "../command.js";
import { withClient } from "../connect.js";
import { duration, json, prettyJson } from "../format.js";

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * `pgwake send`.
 *
 * @example
 * ```sh
 * pgwake send emails '{"to": "a@b.c"}' --wait --timeout 1m
 * ```
 */
export const sendCommand: Command = {
  name: "send",
  summary: "send a job and print its id (--wait: and its result)",
  positionals: ["QUEUE", "JSON"],
  description:
    "Sends a job to QUEUE with the payload JSON and prints its id. With --wait, it then waits for the job " +
    "to finish and prints the worker's result as JSON on a second line; a job that failed or was cancelled " +
    "exits with 1 and says why.",
  options: [
    { name: "wait", description: "wait for the job to finish and print its result" },
    {
      name: "timeout",
      value: "DURATION",
      description:
        "give up waiting (for room in a full queue, and with --wait for the result) after this [30s]",
    },
    { name: "priority", value: "N", description: "higher runs first [0]" },
    { name: "delay", value: "DURATION", description: "run no earlier than this from now" },
    { name: "key", value: "KEY", description: "dedup key: at most one unfinished job per key" },
    {
      name: "attributes",
      value: "JSON",
      description: 'a flat JSON object, as in \'{"region":"eu"}\'',
    },
    { name: "max-attempts", value: "N", description: "override the queue's max attempts" },
    { name: "json", description: 'print {"id": …, "result": …} instead' },
  ],
  database: true,
  async run(args, io) {
    const [queue, payloadText] = args.positionals as [string, string];
    const payload = args.json(payloadText, "the payload");
    const timeoutMs = args.duration("timeout", DEFAULT_TIMEOUT_MS);
    const options = sendOptions(args, timeoutMs);
    const wait = args.flag("wait");
    return withClient(args, io, async (client) => {
      const start = performance.now();
      const sent = client.queue(queue).send(payload as never, options);
      // Read before the id arrives: the completion is then registered before any worker can finish.
      const completed = wait ? sent.completed : undefined;
      const id = await sent.then(undefined, (error: unknown) => {
        if (!(error instanceof QueueNotFoundError)) throw error;
        throw new CliError(
          `queue "${queue}" does not exist in schema "${client.schema}": create it with pgwake create-queue ${queue}`,
        );
      });
      if (!completed) {
        io.stdout(args.flag("json") ? prettyJson({ id }) : id);
        return 0;
      }
      if (!args.flag("json")) io.stdout(id);
      // One deadline for the whole command: waiting for room, then for the result.
      const left = Math.max(0, timeoutMs - (performance.now() - start));
      const result = await settle(completed, left, timeoutMs, id);
      io.stdout(args.flag("json") ? prettyJson({ id, result }) : json(result));
      return 0;
    });
  },
};

function sendOptions(args: Args, timeoutMs: number): SendOptions {
  const options: SendOptions = { timeout: timeoutMs };
  const priority = args.int("priority", undefined);
  if (priority !== undefined) options.priority = priority;
  const delay = args.duration("delay", undefined);
  if (delay !== undefined) options.delay = delay;
  const key = args.string("key");
  if (key !== undefined) options.key = key;
  const attributes = args.string("attributes");
  if (attributes !== undefined) {
    options.attributes = args.json(attributes, "--attributes") as SendOptions["attributes"];
  }
  const maxAttempts = args.int("max-attempts", undefined, 1);
  if (maxAttempts !== undefined) options.maxAttempts = maxAttempts;
  return options;
}

/** The job's result, or a CliError saying how it ended (or that it has not yet). */
async function settle(
  completed: Promise<unknown>,
  leftMs: number,
  timeoutMs: number,
  id: string,
): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new CliError(
            `job ${id} has not finished within ${duration(timeoutMs)} (it stays in the queue): ` +
              `see pgwake job ${id}, or wait longer with --timeout`,
          ),
        ),
      leftMs,
    );
  });
  try {
    return await Promise.race([completed, timeout]);
  } catch (error) {
    if (error instanceof JobFailedError) {
      throw new CliError(
        `job ${id} failed after ${error.attempts} attempt${error.attempts === 1 ? "" : "s"}: ` +
          `${error.error.message} (see pgwake job ${id}; pgwake retry ${id} runs it again)`,
        { cause: error },
      );
    }
    if (error instanceof JobCancelledError) {
      throw new CliError(`job ${id} was cancelled (pgwake retry ${id} runs it again)`, {
        cause: error,
      });
    }
    throw error;
  } finally {
    clearTimeout(timer);
  }
}
