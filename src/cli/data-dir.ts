/**
 * The embedded database of `pgwake run`: a PostgreSQL from npm whose data stays in one directory
 * (`./.pgwake` by default) from one start to the next.
 *
 * Layout of the directory:
 *   pgdata/        the PostgreSQL data directory (initdb runs when it has no PG_VERSION)
 *   password       the database password, made at initdb (mode 0600)
 *   postgres.log   the server's log, appended
 *   pgwake.pid     the `pgwake run` serving it, while it runs
 *
 * Before starting: as root, that the `postgres` user can reach it all (reachable.ts); then a server
 * left running by a `pgwake run` that was killed is stopped (orphan.ts).
 */
import { randomBytes } from "node:crypto";
import {
  appendFileSync,
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { CliError } from "./command.js";
import { freePort, importEmbeddedPostgres, launchPostgres, portTaken } from "./embedded.js";
import { reapOrphan } from "./orphan.js";
import { checkReachable } from "./reachable.js";

/** The port of the embedded PostgreSQL: next to PostgreSQL's usual 5432. */
export const DEFAULT_PG_PORT = 5433;
export const DEFAULT_DATA_DIR = ".pgwake";

export interface EmbeddedDatabase {
  url: string;
  /** The directory given (absolute). */
  dataDir: string;
  /** The PostgreSQL data directory inside it. */
  pgdata: string;
  /** PostgreSQL's major version. */
  version: string;
  /** The postmaster's process id. */
  pid: number;
  /** Whether initdb ran now (false: an existing database was reused). */
  created: boolean;
  /** The process id of an orphaned server stopped before starting, if there was one. */
  reaped: number | undefined;
  /** Resolves if PostgreSQL exits by itself. */
  exited: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts (creating it the first time) the embedded database in `dataDir` on `127.0.0.1:port`
 * (`port` 0: any free port).
 *
 * @example
 * ```ts
 * const db = await startEmbeddedDatabase({ dataDir: ".pgwake", port: 5433 });
 * console.log(db.url);
 * await db.stop();
 * ```
 */
export async function startEmbeddedDatabase(options: {
  dataDir: string;
  port: number;
}): Promise<EmbeddedDatabase> {
  await importEmbeddedPostgres(); // first, so a missing package is the first thing said
  const dataDir = resolve(options.dataDir);
  const pgdata = join(dataDir, "pgdata");
  const root = process.getuid?.() === 0;
  // Checked before creating anything (no litter when refusing), and after (new directories
  // follow the umask).
  if (root) await checkReachable(dataDir);
  if (prepareDirectory(dataDir) && root) await checkReachable(dataDir);
  const reaped = await reapOrphan(dataDir, pgdata);
  const created = !existsSync(join(pgdata, "PG_VERSION"));
  if (created) checkEmpty(pgdata);
  const port = options.port === 0 ? await freePort() : options.port;
  if (options.port !== 0 && (await portTaken(port))) {
    throw new CliError(
      `port ${port} on 127.0.0.1 is taken (by another PostgreSQL?): pass --pg-port with a free port, ` +
        "or --pg-port 0 to take any free one",
    );
  }
  const password = created ? newPassword(dataDir) : readPassword(dataDir);
  const logFile = join(dataDir, "postgres.log");
  const pidFile = join(dataDir, "pgwake.pid");
  writeFileSync(pidFile, `${process.pid}\n`);
  let pg;
  try {
    pg = await launchPostgres({
      dataDir: pgdata,
      port,
      password,
      initialise: created,
      onLog: (text) => {
        try {
          appendFileSync(logFile, text);
        } catch {
          // the log is a convenience
        }
      },
    });
  } catch (error) {
    removePidFile(pidFile);
    throw new CliError(`${(error as Error).message} (its log: ${logFile})`, { cause: error });
  }
  const launched = pg;
  return {
    url: launched.url,
    dataDir,
    pgdata,
    version: readFileSync(join(pgdata, "PG_VERSION"), "utf8").trim(),
    pid: launched.pid,
    created,
    reaped,
    exited: launched.exited,
    stop: async () => {
      await launched.stop();
      removePidFile(pidFile);
    },
  };
}

/** Makes the directory if it is missing; true if it did. */
function prepareDirectory(dataDir: string): boolean {
  if (existsSync(dataDir)) {
    if (!statSync(dataDir).isDirectory()) {
      throw new CliError(
        `--data-dir ${dataDir} is a file, not a directory: pass another --data-dir`,
      );
    }
    return false;
  }
  mkdirSync(dataDir, { recursive: true });
  // As root the server runs as `postgres`, which must be able to enter the directory; the
  // secrets in it are protected on their own (pgdata is 0700, the password file 0600).
  if (process.getuid?.() === 0) chmodSync(dataDir, 0o711);
  return true;
}

function checkEmpty(pgdata: string): void {
  if (existsSync(pgdata) && readdirSync(pgdata).length > 0) {
    throw new CliError(
      `${pgdata} is not empty but holds no PostgreSQL database (no PG_VERSION): an earlier first ` +
        `start probably failed. Delete it (rm -r ${pgdata}) and start again`,
    );
  }
}

function newPassword(dataDir: string): string {
  const password = randomBytes(18).toString("base64url");
  writeFileSync(join(dataDir, "password"), `${password}\n`, { mode: 0o600 });
  return password;
}

function readPassword(dataDir: string): string {
  try {
    return readFileSync(join(dataDir, "password"), "utf8").trim();
  } catch {
    throw new CliError(
      `${join(dataDir, "password")} is missing, so pgwake cannot log in to the database in ${dataDir}: ` +
        `put it back, or delete ${dataDir} to start with an empty database`,
    );
  }
}

function removePidFile(pidFile: string): void {
  try {
    if (readFileSync(pidFile, "utf8").trim() === String(process.pid)) rmSync(pidFile);
  } catch {
    // already gone
  }
}
