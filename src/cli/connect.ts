import { openClient, type Client } from "../client.js";
import { PgwakeError } from "../errors.js";
import { normaliseConnect, type ClientSettings } from "../options.js";
import type { Args } from "./args.js";
import { CliError, type CliIo } from "./command.js";

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

/** The client settings from `--url` / `DATABASE_URL` and `--schema` / `PGWAKE_SCHEMA`. */
export function cliSettings(
  args: Args,
  io: CliIo,
  options: CliConnectOptions = {},
): ClientSettings {
  return normaliseConnect(
    {
      url: options.url ?? args.string("url"),
      schema: options.schema ?? args.string("schema"),
      migrate: options.migrate ?? false,
      max: options.max ?? 2,
      pollInterval: options.pollInterval ?? false,
    },
    io.env,
  );
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
  const settings = cliSettings(args, io, options);
  const client = await openClient(settings).catch((error: unknown) => {
    throw outdated(error, settings.schema) ?? error;
  });
  try {
    return await fn(client);
  } finally {
    await client.close({ timeout: "5s" });
  }
}

/** The library says how to migrate in API terms; on the command line, say it in CLI terms. */
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
