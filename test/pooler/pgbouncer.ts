/**
 * A PgBouncer of the test's own, in front of the run's PostgreSQL: Debian's `pgbouncer` binary,
 * a generated config on a free port, and a process that ends with the test. As root it runs as
 * the `postgres` user (`-u`), since PgBouncer refuses to run as root.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { until } from "../helpers/db.js";

export interface Bouncer {
  /** The same database and credentials as the run's URL, through PgBouncer. */
  url: string;
  /** `PgBouncer 1.18.0`, as the binary says. */
  version: string;
  /**
   * Whether it keeps prepared statements in transaction mode (1.21 and later, with
   * `max_prepared_statements`, which the config then sets): clients may leave `prepare` on.
   */
  keepsPrepared: boolean;
  /** PgBouncer's log so far (for failure messages). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Finds the binary and its version: PGWAKE_PGBOUNCER (another build, say a newer PgBouncer built
 * from source), else on PATH, else where Debian puts it (/usr/sbin is not on every PATH).
 */
function pgbouncerBinary(): { binary: string; version: string } {
  const given = process.env.PGWAKE_PGBOUNCER;
  for (const candidate of given ? [given] : ["pgbouncer", "/usr/sbin/pgbouncer"]) {
    const run = spawnSync(candidate, ["--version"], { encoding: "utf8" });
    if (run.status === 0) return { binary: candidate, version: run.stdout.split("\n")[0]!.trim() };
  }
  throw new Error(
    given
      ? `PGWAKE_PGBOUNCER=${given} does not run (${given} --version failed)`
      : "the pooler tests need PgBouncer and none is installed: apt-get install -y pgbouncer " +
          "(.ci/run does this), then npm run test:pooler",
  );
}

/** PgBouncer 1.21 added `max_prepared_statements`, which keeps them in transaction mode. */
function keepsPrepared(version: string): boolean {
  const [major = 0, minor = 0] = (/(\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number);
  return major > 1 || (major === 1 && minor >= 21);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A value in a PgBouncer connection string, quoted (a quote inside is doubled). */
function quoted(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** PgBouncer must be able to write its directory when it runs as `postgres`. */
function ownDirectoryAsPostgres(dir: string): string[] {
  if (process.getuid?.() !== 0) return [];
  const uid = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const gid = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(
      "PgBouncer refuses to run as root and there is no postgres user to run it as: " +
        "create one (useradd --system postgres) or run the tests as another user",
    );
  }
  chownSync(dir, Number(uid.stdout), Number(gid.stdout));
  return ["-u", "postgres"];
}

/**
 * Starts PgBouncer in front of `databaseUrl` in `poolMode`. Clients log in as anyone
 * (`auth_type = any`); PgBouncer logs in to the server with the URL's own user and password.
 */
export async function startPgbouncer(
  databaseUrl: string,
  poolMode: "transaction" | "session" = "transaction",
): Promise<Bouncer> {
  const { binary, version } = pgbouncerBinary();
  const prepared = keepsPrepared(version);
  const target = new URL(databaseUrl);
  const database = decodeURIComponent(target.pathname.slice(1)) || "postgres";
  const user = decodeURIComponent(target.username) || "postgres";
  const password = decodeURIComponent(target.password);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "pgwake-pgbouncer-"));
  const userSwitch = ownDirectoryAsPostgres(dir);
  const server = [
    `host=${quoted(target.hostname === "localhost" ? "127.0.0.1" : target.hostname)}`,
    `port=${target.port || "5432"}`,
    `dbname=${quoted(database)}`,
    `user=${quoted(user)}`,
    ...(password ? [`password=${quoted(password)}`] : []),
  ].join(" ");
  const config = join(dir, "pgbouncer.ini");
  writeFileSync(
    config,
    [
      "[databases]",
      `${database} = ${server}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = any",
      `pool_mode = ${poolMode}`,
      "default_pool_size = 20",
      "max_client_conn = 500",
      // postgres.js sends no such parameter, but other drivers do; harmless either way.
      "ignore_startup_parameters = extra_float_digits",
      ...(prepared ? ["max_prepared_statements = 200"] : []),
      `logfile = ${join(dir, "pgbouncer.log")}`,
      `pidfile = ${join(dir, "pgbouncer.pid")}`,
      "",
    ].join("\n"),
    { mode: 0o644 },
  );
  const child: ChildProcess = spawn(binary, [...userSwitch, config], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  let exited = false;
  // A test process that dies without stopping it must not leave PgBouncer running.
  const killOnExit = (): void => {
    child.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", killOnExit);
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      process.off("exit", killOnExit);
      resolve();
    }),
  );
  const log = (): string => {
    try {
      return readFileSync(join(dir, "pgbouncer.log"), "utf8") + stderr;
    } catch {
      return stderr;
    }
  };
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  const bouncer: Bouncer = {
    url: url.toString(),
    version,
    keepsPrepared: prepared,
    log,
    async stop() {
      if (!exited) child.kill("SIGTERM");
      await exit;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    // No event says PgBouncer is ready: try a query until one works.
    await until(
      async () => {
        if (exited) throw new Error(`pgbouncer exited at start:\n${log()}`);
        const probe = postgres(bouncer.url, { max: 1, connect_timeout: 2, onnotice: () => {} });
        try {
          await probe`select 1`;
          return true;
        } catch {
          return false;
        } finally {
          await probe.end({ timeout: 0 });
        }
      },
      20_000,
      "pgbouncer to accept connections",
    );
  } catch (error) {
    await bouncer.stop();
    throw error;
  }
  return bouncer;
}
