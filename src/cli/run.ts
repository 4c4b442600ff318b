import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { openClient } from "../client.js";
import { normaliseConnect } from "../options.js";

/** Where the CLI writes, and the environment it reads: injected so tests need no process. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

const USAGE = `pgwake: a PostgreSQL job queue

Usage: pgwake <command> [options]

Commands:
  migrate     apply pending migrations to the schema
  version     print the pgwake version

Options:
  --url URL       the database (default: DATABASE_URL)
  --schema NAME   the schema (default: PGWAKE_SCHEMA, else "pgwake")
  -h, --help      show this help

The server, dashboard and the other commands of the contract arrive in a later version.`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return pkg.version;
}

/**
 * Runs the CLI and returns the exit code: 0 on success, 1 when the command failed, 2 for bad usage.
 *
 * @example
 * ```ts
 * const code = await run(["migrate", "--url", url], { stdout: console.log, stderr: console.error, env: process.env });
 * ```
 */
export async function run(argv: string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: "string" },
        schema: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    io.stderr(`pgwake: ${(error as Error).message}; see pgwake --help`);
    return 2;
  }
  const [command] = parsed.positionals;
  if (parsed.values.help || command === undefined || command === "help") {
    io.stdout(USAGE);
    return command === undefined && !parsed.values.help ? 2 : 0;
  }
  if (command === "version") {
    io.stdout(version());
    return 0;
  }
  if (command !== "migrate") {
    io.stderr(`pgwake: unknown command "${command}"; see pgwake --help`);
    return 2;
  }
  try {
    // connect() applies pending migrations; migrate() then reports where the schema stands.
    const settings = normaliseConnect(
      { url: parsed.values.url, schema: parsed.values.schema, pollInterval: false },
      io.env,
    );
    const client = await openClient(settings);
    const report = await client.migrate();
    await client.close();
    io.stdout(`schema "${client.schema}" is at migration ${report.version}`);
    return 0;
  } catch (error) {
    io.stderr(`pgwake: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  }
}
