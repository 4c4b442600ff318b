import {
  DATABASE_OPTIONS,
  formatOptions,
  HELP_OPTION,
  parseCommandLine,
  type OptionSpec,
} from "./args.js";
import { oneLine, UsageError, type CliIo, type Command } from "./command.js";
import { benchCommand } from "./commands/bench.js";
import { cancelCommand } from "./commands/cancel.js";
import { createQueueCommand } from "./commands/create-queue.js";
import { jobCommand } from "./commands/job.js";
import { jobsCommand } from "./commands/jobs.js";
import { migrateCommand } from "./commands/migrate.js";
import { queuesCommand } from "./commands/queues.js";
import { retryCommand } from "./commands/retry.js";
import { runCommand } from "./commands/run.js";
import { sendCommand } from "./commands/send.js";
import { statsCommand } from "./commands/stats.js";
import { versionCommand } from "./commands/version.js";

export type { CliIo } from "./command.js";

/** Every command, in the order `pgwake --help` lists them. */
export const COMMANDS: Command[] = [
  runCommand,
  migrateCommand,
  queuesCommand,
  createQueueCommand,
  sendCommand,
  jobsCommand,
  jobCommand,
  cancelCommand,
  retryCommand,
  statsCommand,
  benchCommand,
  versionCommand,
];

function usage(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length));
  return `pgwake: a PostgreSQL job queue

Usage: pgwake <command> [options]

Commands:
${COMMANDS.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join("\n")}

Options of every command that uses the database:
${formatOptions([...DATABASE_OPTIONS, HELP_OPTION])}

pgwake <command> --help describes a command. Exit codes: 0 done, 1 failed, 2 bad command line.`;
}

function optionsOf(command: Command): OptionSpec[] {
  return command.database ? [...command.options, ...DATABASE_OPTIONS] : command.options;
}

/** `pgwake <command> --help`. */
export function commandHelp(command: Command): string {
  const positionals = (command.positionals ?? []).map((name) => ` ${name}`).join("");
  return `Usage: pgwake ${command.name}${positionals} [options]

${wrap(command.description, 100)}

Options:
${formatOptions([...optionsOf(command), HELP_OPTION])}`;
}

/** Breaks a paragraph into lines of at most `width` characters. */
function wrap(text: string, width: number): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join("\n");
}

/** Options that may come before the command name (`pgwake --url … queues`), with their values. */
const LEADING_WITH_VALUE = new Set(["--url", "--schema"]);

/** Splits off the command name: the first argument that is not a leading option or its value. */
function findCommand(argv: string[]): { name: string | undefined; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (LEADING_WITH_VALUE.has(arg)) {
      i++;
      continue;
    }
    if (arg.startsWith("-")) continue;
    return { name: arg, rest: [...argv.slice(0, i), ...argv.slice(i + 1)] };
  }
  return { name: undefined, rest: argv };
}

/**
 * Runs the CLI and returns the exit code: 0 on success, 1 when the command failed, 2 when the
 * command line could not be understood. Every failure is one `pgwake: <message>` line on stderr.
 *
 * @example
 * ```ts
 * const code = await run(["queues", "--json"], { stdout: console.log, stderr: console.error, env: process.env });
 * ```
 */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const { name, rest } = findCommand(argv);
  if (name === undefined || name === "help") {
    const topic =
      name === "help" ? COMMANDS.find((command) => command.name === rest[0]) : undefined;
    if (topic) {
      io.stdout(commandHelp(topic));
      return 0;
    }
    if (rest.includes("--version") || rest.includes("-v")) return run(["version"], io);
    const help = rest.includes("--help") || rest.includes("-h") || name === "help";
    const unknown = rest.find((arg) => arg.startsWith("-") && !["--help", "-h"].includes(arg));
    if (unknown !== undefined) {
      io.stderr(`pgwake: unknown option ${unknown}; see pgwake --help`);
      return 2;
    }
    (help ? io.stdout : io.stderr)(usage());
    return help ? 0 : 2;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (!command) {
    io.stderr(`pgwake: unknown command "${name}"; see pgwake --help`);
    return 2;
  }
  try {
    const args = parseCommandLine(
      command.name,
      optionsOf(command),
      command.positionals ?? [],
      rest,
    );
    if (args.flag("help")) {
      io.stdout(commandHelp(command));
      return 0;
    }
    return await command.run(args, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`pgwake: ${oneLine(error)}; see pgwake ${command.name} --help`);
      return 2;
    }
    io.stderr(`pgwake: ${oneLine(error)}`);
    return 1;
  }
}
