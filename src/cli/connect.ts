import { openClient, type Client } from "../client.js";
import { NotificationsLostError, PgwakeError } from "../errors.js";
import { normaliseConnect, type ClientSettings } from "../options.js";
import type { Args } from "./args.js";
import { CliError, UsageError, type CliIo } from "./command.js";

/** How a command connects; the defaults suit a short command (no migrations, a small pool). */
export interface CliConnectOptions {
  /** Apply pending migrations (default false: commands that only operate an existing schema say how to migrate). */
  migrate?: boolean;
  /** Pool size (default 2). */
  max?: number;
  /** The schema instead of `--schema` (bench uses a throwaway one). */
  schema?: string;
  /** The URL instead of `--url` / `DATABASE_URL` (run uses the embedded database's). */
  url?: string;
  /** The safety poll (default off: a command's client lives for seconds). */
  pollInterval?: false | string;
}

/**
 * The client settings from `--url` / `DATABASE_URL`, `--schema` / `PGWAKE_SCHEMA`, `--listen-url`
 * / `PGWAKE_LISTEN_URL`, `--no-listen` and `--no-prepare` / `PGWAKE_PREPARE=false`.
 */
export function cliSettings(
  args: Args,
  io: CliIo,
  options: CliConnectOptions = {},
): ClientSettings {
  const pollMode = args.flag("no-listen");
  const listenUrl = args.string("listen-url");
  if (pollMode && listenUrl !== undefined) {
    throw new UsageError(
      "--no-listen and --listen-url contradict each other: give --listen-url for wake-ups by NOTIFY, or --no-listen to poll",
    );
  }
  return normaliseConnect(
    {
      url: options.url ?? args.string("url"),
      schema: options.schema ?? args.string("schema"),
      migrate: options.migrate ?? false,
      max: options.max ?? 2,
      // In poll mode polling is how anything is found: the library's default pace (1 s).
      pollInterval: pollMode ? undefined : (options.pollInterval ?? false),
      listenUrl: pollMode ? false : (listenUrl ?? nonEmpty(io.env.PGWAKE_LISTEN_URL)),
      prepare: !(args.flag("no-prepare") || envFalse(io.env.PGWAKE_PREPARE, "PGWAKE_PREPARE")),
    },
    io.env,
  );
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

/** Whether an environment switch says false; anything but true/false/1/0/empty is refused. */
function envFalse(value: string | undefined, name: string): boolean {
  if (value === undefined || value === "") return false;
  if (/^(false|0)$/i.test(value)) return true;
  if (/^(true|1)$/i.test(value)) return false;
  throw new UsageError(`${name} must be true or false, got ${JSON.stringify(value)}`);
}

/**
 * Connects as the command line says, runs `fn`, and closes the client whatever happens.
 *
 * @example
 * ```ts
 * const queues = await withClient(args, io, (client) => client.queues());
 * ```
 */
export async function withClient<T>(
  args: Args,
  io: CliIo,
  fn: (client: Client) => Promise<T>,
  options: CliConnectOptions = {},
): Promise<T> {
  const client = await openCliClient(cliSettings(args, io, options));
  try {
    return await fn(client);
  } finally {
    await client.close({ timeout: "5s" });
  }
}

/** Opens a client with the CLI's settings; the library's advice on failure is restated for the CLI. */
export function openCliClient(settings: ClientSettings): Promise<Client> {
  return openClient(settings).catch((error: unknown) => {
    throw inCliTerms(error, settings.schema);
  });
}

/** The library gives its advice in API terms (listenUrl, migrate); say it in CLI terms. */
function inCliTerms(error: unknown, schema: string): unknown {
  if (error instanceof NotificationsLostError) {
    return new CliError(
      `the LISTEN connection did not receive a test NOTIFY sent through --url: ${error.reason}. ` +
        `Give --listen-url (or PGWAKE_LISTEN_URL) a direct connection to the same database, ` +
        `keeping --url on the pooler, or pass --no-listen to poll instead`,
      { cause: error },
    );
  }
  return outdated(error, schema) ?? error;
}

function outdated(error: unknown, schema: string): CliError | undefined {
  if (!(error instanceof PgwakeError) || error.code !== "SCHEMA_OUTDATED") return undefined;
  const version = /at migration (\d+)/.exec(error.message)?.[1];
  return new CliError(
    version === "0"
      ? `schema "${schema}" has no pgwake tables: set it up with pgwake migrate, or check --schema (or PGWAKE_SCHEMA) and --url`
      : `schema "${schema}" is at migration ${version ?? "?"}, older than this pgwake: bring it up to date with pgwake migrate`,
    { cause: error },
  );
}
