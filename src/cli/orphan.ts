/**
 * A `pgwake run` killed with SIGKILL leaves its PostgreSQL running (orphaned, still holding the
 * port and the data directory); the next start finds it through postmaster.pid and stops it.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CliError } from "./command.js";

interface ProcessInfo {
  ppid: number;
  zombie: boolean;
  command: string;
}

/** A process's parent, state and command line; undefined when there is no such process. */
function inspect(pid: number): ProcessInfo | undefined {
  if (existsSync("/proc/self/stat")) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // "pid (comm) state ppid ...": the name may hold spaces and parentheses.
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const command = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
      return { ppid: Number(ppid), zombie: state === "Z", command };
    } catch {
      return undefined;
    }
  }
  try {
    const line = execFileSync("ps", ["-o", "stat=,ppid=,command=", "-p", String(pid)], {
      stdio: "pipe",
    })
      .toString()
      .trim();
    const [, state, ppid, command] = /^(\S+)\s+(\d+)\s+(.*)$/.exec(line) ?? [];
    if (!state) return undefined;
    return { ppid: Number(ppid), zombie: state.startsWith("Z"), command: command ?? "" };
  } catch {
    return undefined;
  }
}

function running(pid: number): boolean {
  const info = inspect(pid);
  return info !== undefined && !info.zombie;
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, "utf8").split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Stops a PostgreSQL left running on `pgdata` by a `pgwake run` that died without stopping it,
 * and returns its process id. Refuses when another live `pgwake run` serves the directory, or
 * when postmaster.pid names a live process that is not a PostgreSQL on this directory.
 */
export async function reapOrphan(dataDir: string, pgdata: string): Promise<number | undefined> {
  const lockFile = join(pgdata, "postmaster.pid");
  const pid = readPid(lockFile);
  const info = pid === undefined ? undefined : inspect(pid);
  if (pid === undefined || info === undefined) return undefined; // PostgreSQL clears a stale lock itself
  if (info.zombie) {
    // It exited and nobody collected it: PostgreSQL would still see its pid as in use.
    rmSync(lockFile, { force: true });
    return undefined;
  }
  if (!`${info.command} `.includes(` -D ${pgdata} `)) {
    throw new CliError(
      `${lockFile} names process ${pid}, which is running but is not a PostgreSQL on this directory ` +
        `(it is ${JSON.stringify(info.command.slice(0, 100))}): if no PostgreSQL uses ${pgdata}, ` +
        `delete ${lockFile} and start again`,
    );
  }
  const owner = readPid(join(dataDir, "pgwake.pid"));
  if (owner !== undefined && owner === info.ppid && running(owner)) {
    throw new CliError(
      `another pgwake run (process ${owner}) is serving the database in ${dataDir}: ` +
        "use that one, stop it first, or pass another --data-dir",
    );
  }
  try {
    process.kill(pid, "SIGINT"); // fast shutdown: ends its sessions, writes a checkpoint
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ESRCH") return pid;
    throw new CliError(
      `PostgreSQL process ${pid} is still running on ${pgdata}, left by an earlier pgwake run, and ` +
        `pgwake may not stop it (${(error as Error).message}): stop it as its owner (kill ${pid}) and start again`,
    );
  }
  const deadline = Date.now() + 10_000;
  let quit = false;
  while (running(pid)) {
    if (Date.now() > deadline) {
      throw new CliError(
        `PostgreSQL process ${pid}, left running on ${pgdata} by an earlier pgwake run, did not stop: ` +
          `stop it by hand (kill -9 ${pid}) and start again`,
      );
    }
    if (!quit && Date.now() > deadline - 5000) {
      quit = true;
      try {
        process.kill(pid, "SIGQUIT"); // immediate shutdown
      } catch {
        // it exited meanwhile
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return pid;
}
