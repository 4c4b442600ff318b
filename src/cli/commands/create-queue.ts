import type { QueueInfo } from "../../db/rows.js";
import type { QueueOptions } from "../../options.js";
import type { Args } from "../args.js";
import type { Command } from "../command.js";
import { withClient } from "../connect.js";
import { duration } from "../format.js";
import { keyValues } from "../table.js";

/**
 * `pgwake create-queue`.
 *
 * @example
 * ```sh
 * pgwake create-queue emails --max-attempts 3 --dead-letter emails-dead
 * ```
 */
export const createQueueCommand: Command = {
  name: "create-queue",
  summary: "create a queue, or set the options of an existing one",
  positionals: ["NAME"],
  description:
    "Creates the queue NAME, or updates it if it exists. Like client.createQueue, it sets every option: " +
    "options left out go back to their defaults (shown in brackets). Prints the queue's options.",
  options: [
    { name: "max-attempts", value: "N", description: "deliveries before a job fails for good [5]" },
    {
      name: "lease-time",
      value: "DURATION",
      description: "a running job not heartbeated for this long is redelivered [30s]",
    },
    { name: "max-size", value: "N", description: "at most N unfinished jobs; senders wait [none]" },
    {
      name: "dead-letter",
      value: "QUEUE",
      description: "copy failed jobs to this queue (created if missing) [none]",
    },
    { name: "retention", value: "DURATION", description: "delete finished jobs after this [7d]" },
    { name: "backoff-delay", value: "DURATION", description: "the first retry's delay [1s]" },
    { name: "backoff-factor", value: "X", description: "each retry waits X times longer [2]" },
    { name: "backoff-max", value: "DURATION", description: "the longest retry delay [1h]" },
  ],
  database: true,
  async run(args, io) {
    const name = args.positionals[0]!;
    const options = queueOptions(args);
    const { existed, info } = await withClient(args, io, async (client) => {
      const existed = (await client.queueInfo(name)) !== null;
      await client.createQueue(name, options);
      return { existed, info: (await client.queueInfo(name))! };
    });
    io.stdout(`${existed ? "updated" : "created"} queue "${name}"\n${describeQueue(info)}`);
    return 0;
  },
};

function queueOptions(args: Args): QueueOptions {
  const options: QueueOptions = {};
  const backoff: NonNullable<QueueOptions["backoff"]> = {};
  const set = <T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined) => {
    if (value !== undefined) target[key] = value;
  };
  set(options, "maxAttempts", args.int("max-attempts", undefined, 1));
  set(options, "leaseTime", args.duration("lease-time", undefined));
  set(options, "maxSize", args.int("max-size", undefined, 1));
  set(options, "deadLetter", args.string("dead-letter"));
  set(options, "retention", args.duration("retention", undefined));
  set(backoff, "delay", args.duration("backoff-delay", undefined));
  set(backoff, "factor", args.number("backoff-factor"));
  set(backoff, "max", args.duration("backoff-max", undefined));
  if (Object.keys(backoff).length > 0) options.backoff = backoff;
  return options;
}

/** A queue's options, one per line. */
export function describeQueue(info: QueueInfo): string {
  return keyValues([
    ["max attempts", info.maxAttempts],
    ["lease time", duration(info.leaseMs)],
    [
      "backoff",
      `${duration(info.backoffDelayMs)}, ×${info.backoffFactor} per retry, at most ${duration(info.backoffMaxMs)}`,
    ],
    ["max size", info.maxSize ?? "none"],
    ["dead letter", info.deadLetter ?? "none"],
    ["retention", duration(info.retentionMs)],
  ]);
}
