import type { Args, OptionSpec } from "./args.js";

/** Where the CLI writes, and the environment it reads: injected so tests need no process. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

/**
 * One `pgwake <command>`: its help and its options, which `run.ts` parses before calling `run`.
 * A command returns its exit code, or throws: a {@link UsageError} exits with 2, anything else
 * with 1, each as one `pgwake: <message>` line.
 *
 * @example
 * ```ts
 * export const version: Command = {
 *   name: "version", summary: "print the pgwake version", description: "…", options: [],
 *   database: false, run: async (_args, io) => (io.stdout("0.1.0"), 0),
 * };
 * ```
 */
export interface Command {
  name: string;
  /** One line for `pgwake --help`. */
  summary: string;
  /** The positionals, required and in order, as the usage line names them (`["QUEUE", "JSON"]`). */
  positionals?: string[];
  /** The paragraph `pgwake <command> --help` shows under the usage line. */
  description: string;
  options: OptionSpec[];
  /** Whether the command talks to the database (it then takes `--url` and `--schema`). */
  database: boolean;
  run(args: Args, io: CliIo): Promise<number>;
}

/** The command line could not be understood: exit code 2, with a hint to `--help`. */
export class UsageError extends Error {
  override get name(): string {
    return "UsageError";
  }
}

/** A failure the CLI itself detected, with a message saying what to do: exit code 1. */
export class CliError extends Error {
  override get name(): string {
    return "CliError";
  }
}

/** An error's message on one line, for `pgwake: <message>`. */
export function oneLine(error: unknown): string {
  const message =
    error instanceof Error ? error.message : error === undefined ? "unknown error" : String(error);
  return message.replace(/\s*\n\s*/g, " ").trim();
}
