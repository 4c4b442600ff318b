/**
 * Command-line parsing on `node:util` `parseArgs`: each command declares its options once, and
 * that list both configures the parser and writes the `--help` text. Values are checked here
 * (numbers, durations, sizes, JSON) so a typo is a usage error naming the flag.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { parseDuration } from "../util/duration.js";
import { UsageError } from "./command.js";

/** One `--option`: a flag when `value` is absent, else an option taking a value. */
export interface OptionSpec {
  /** The long name, without dashes (`max-attempts`). */
  name: string;
  /** What the value is, for the help (`N`, `DURATION`); absent for flags. */
  value?: string;
  short?: string;
  description: string;
}

/** How to reach the database, taken by every command that talks to it. */
export const DATABASE_OPTIONS: OptionSpec[] = [
  { name: "url", value: "URL", description: "the database (default: DATABASE_URL)" },
  {
    name: "schema",
    value: "NAME",
    description: 'the schema pgwake lives in (default: PGWAKE_SCHEMA, else "pgwake")',
  },
  {
    name: "listen-url",
    value: "URL",
    description:
      "a direct connection to PostgreSQL for LISTEN, when --url goes through a transaction pooler (default: PGWAKE_LISTEN_URL)",
  },
  {
    name: "no-listen",
    description: "no LISTEN connection at all: find work and completions by polling (poll mode)",
  },
  {
    name: "no-prepare",
    description:
      "no prepared statements, for poolers that cannot keep them (PgBouncer before 1.21 in transaction mode; also PGWAKE_PREPARE=false)",
  },
];

export const HELP_OPTION: OptionSpec = { name: "help", short: "h", description: "show this help" };

export const JSON_OPTION: OptionSpec = {
  name: "json",
  description: "print JSON instead of a table",
};

/**
 * The options and positionals of one command, read with the checks a CLI needs: a bad value is
 * a {@link UsageError} naming the option.
 *
 * @example
 * ```ts
 * const limit = args.int("limit", 50, 1, 1000); // --limit 20 → 20; absent → 50
 * const delay = args.duration("delay", undefined); // --delay 5m → 300000
 * ```
 */
export class Args {
  constructor(
    /** `pgwake <command>`, for messages. */
    readonly command: string,
    private readonly values: Record<string, string | boolean | undefined>,
    readonly positionals: string[],
  ) {}

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  string(name: string): string | undefined {
    const value = this.values[name];
    return typeof value === "string" ? value : undefined;
  }

  /** An integer option from `min` to `max`, or `fallback` when absent. */
  int<F extends number | undefined>(
    name: string,
    fallback: F,
    min = -2_147_483_648,
    max = 2_147_483_647,
  ): number | F {
    const text = this.string(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!/^-?\d+$/.test(text.trim()) || value < min || value > max) {
      throw new UsageError(
        `--${name} takes an integer from ${min} to ${max}, got ${JSON.stringify(text)}`,
      );
    }
    return value;
  }

  /** A number option (`--backoff-factor 1.5`). */
  number(name: string): number | undefined {
    const text = this.string(name);
    if (text === undefined) return undefined;
    const value = Number(text);
    if (text.trim() === "" || !Number.isFinite(value)) {
      throw new UsageError(`--${name} takes a number, got ${JSON.stringify(text)}`);
    }
    return value;
  }

  /** A duration option in milliseconds: `500`, `30s`, `5m`, `7d`. */
  duration<F extends number | undefined>(name: string, fallback: F): number | F {
    const text = this.string(name);
    if (text === undefined) return fallback;
    // A bare number is milliseconds, as everywhere in pgwake.
    const value = parseDuration(/^\d+(\.\d+)?$/.test(text) ? Number(text) : text);
    if (value === undefined) {
      throw new UsageError(
        `--${name} takes a duration such as 500ms, 30s, 5m, 2h or 7d, got ${JSON.stringify(text)}`,
      );
    }
    return value;
  }

  /** A size in bytes: `1048576`, `512kb`, `1mb` (kb and mb are 1024 and 1024²). */
  bytes<F extends number | undefined>(name: string, fallback: F): number | F {
    const text = this.string(name);
    if (text === undefined) return fallback;
    const match = /^(\d+(?:\.\d+)?)\s*(b|kb|k|kib|mb|m|mib|gb|g|gib)?$/i.exec(text.trim());
    const unit = match?.[2]?.toLowerCase()[0] ?? "b";
    const bytes = match ? Math.floor(Number(match[1]) * 1024 ** "bkmg".indexOf(unit)) : NaN;
    if (!(bytes >= 1)) {
      throw new UsageError(
        `--${name} takes a size such as 65536, 512kb or 1mb, got ${JSON.stringify(text)}`,
      );
    }
    return bytes;
  }

  /** A JSON value given as text, with `what` naming it in the message. */
  json(text: string, what: string): unknown {
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new UsageError(
        `${what} is not valid JSON (${(error as Error).message}): quote it for the shell, as in '{"to": "a@b.c"}'`,
      );
    }
  }
}

/**
 * Parses `argv` (the arguments after the command name) against the command's options, plus
 * `--help`. Unknown options, missing values and the wrong number of positionals are usage errors.
 * With `--help`, positionals are not checked.
 *
 * @example
 * ```ts
 * const args = parseCommandLine("send", specs, ["QUEUE", "JSON"], ["emails", "{}", "--wait"]);
 * args.positionals; // ["emails", "{}"]
 * ```
 */
export function parseCommandLine(
  command: string,
  specs: OptionSpec[],
  positionals: string[],
  argv: string[],
): Args {
  const options: NonNullable<ParseArgsConfig["options"]> = {};
  for (const spec of [...specs, HELP_OPTION]) {
    options[spec.name] = {
      type: spec.value === undefined ? "boolean" : "string",
      ...(spec.short ? { short: spec.short } : {}),
    };
  }
  let parsed: { values: Record<string, string | boolean | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as never;
  } catch (error) {
    throw new UsageError(parseErrorMessage(error, command));
  }
  const args = new Args(command, parsed.values, parsed.positionals);
  if (args.flag("help")) return args;
  const given = parsed.positionals;
  if (given.length < positionals.length) {
    const missing = positionals.slice(given.length).join(" and ");
    throw new UsageError(`missing ${missing}: pgwake ${command} takes ${positionals.join(" ")}`);
  }
  if (given.length > positionals.length) {
    const extra = given.slice(positionals.length).map((arg) => JSON.stringify(arg));
    throw new UsageError(
      `unexpected argument${extra.length > 1 ? "s" : ""} ${extra.join(" ")} for pgwake ${command}` +
        (positionals.length > 0 ? ` (it takes ${positionals.join(" ")})` : ""),
    );
  }
  return args;
}

function parseErrorMessage(error: unknown, command: string): string {
  const { code, message } = error as { code?: string; message: string };
  const option = /'(-[^' ]+)/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option) {
    return `unknown option ${option} for pgwake ${command}`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && option && /missing/.test(message)) {
    return `${option} needs a value`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && option && /ambiguous/.test(message)) {
    return `${option} needs a value; to give one that starts with a dash, write ${option}=-…`;
  }
  return message.replace(/\s*\n\s*/g, " ");
}

/** The `Options:` block of a help text, aligned. */
export function formatOptions(specs: OptionSpec[]): string {
  const left = specs.map(
    (spec) =>
      `${spec.short ? `-${spec.short}, ` : ""}--${spec.name}${spec.value ? ` ${spec.value}` : ""}`,
  );
  const width = Math.max(...left.map((text) => text.length));
  return specs.map((spec, i) => `  ${left[i]!.padEnd(width)}  ${spec.description}`).join("\n");
}
