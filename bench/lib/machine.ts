/** What the numbers were measured on. */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem, availableParallelism } from "node:os";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { harnessSql } from "./adapters/sql.ts";

const run = promisify(execFile);

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  kernel: string;
  loadAverageAtStart: number[];
  node: { harness: string; workers: string; workersBinary: string };
  postgres: { version: string; url: string; embedded: boolean; settings: Record<string, string> };
  versions: Record<string, string>;
  pgwakeCommit: string;
}

const SETTINGS = [
  "shared_buffers",
  "synchronous_commit",
  "fsync",
  "full_page_writes",
  "wal_level",
  "max_connections",
  "work_mem",
  "max_wal_size",
  "checkpoint_timeout",
  "jit",
];

function packageVersion(path: string): string {
  try {
    return (JSON.parse(readFileSync(new URL(path, import.meta.url), "utf8")) as { version: string })
      .version;
  } catch {
    return "?";
  }
}

async function output(command: string, args: string[]): Promise<string> {
  try {
    return (await run(command, args, { cwd: new URL("..", import.meta.url) })).stdout.trim();
  } catch {
    return "";
  }
}

/** The URL without its password. */
export function redact(url: string): string {
  return url.replace(/:\/\/([^:@/]+):[^@/]*@/, "://$1:***@");
}

export async function describeMachine(
  url: string,
  embedded: boolean,
  workersNode: string,
): Promise<Machine> {
  const sql = harnessSql(url);
  try {
    const [{ version }] = await sql<[{ version: string }]>`select version()`;
    const rows = await sql<Array<{ name: string; setting: string }>>`
      select name, current_setting(name) as setting from pg_settings where name = any(${SETTINGS})`;
    const osRelease = (() => {
      try {
        return /PRETTY_NAME="([^"]+)"/.exec(readFileSync("/etc/os-release", "utf8"))?.[1] ?? "";
      } catch {
        return "";
      }
    })();
    const commit = await output("git", ["rev-parse", "--short", "HEAD"]);
    const dirty = await output("git", [
      "--no-optional-locks",
      "status",
      "--porcelain",
      "--",
      "../src",
      "../sql",
    ]);
    const measured = process.env.BENCH_PGWAKE
      ? `${process.env.BENCH_PGWAKE_COMMIT ?? "?"} (built in ${process.env.BENCH_PGWAKE})`
      : commit
        ? `${commit}${dirty ? " + uncommitted changes in src/ or sql/" : ""}`
        : "?";
    return {
      cpu: cpus()[0]?.model ?? "?",
      cores: availableParallelism(),
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      os: osRelease || process.platform,
      kernel: release(),
      loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
      node: {
        harness: process.version,
        workers: await output(workersNode, ["--version"]),
        workersBinary: workersNode,
      },
      postgres: {
        version,
        url: redact(url),
        embedded,
        settings: Object.fromEntries(rows.map((row) => [row.name, row.setting])),
      },
      versions: {
        pgwake: process.env.BENCH_PGWAKE
          ? packageVersion(pathToFileURL(resolve(process.env.BENCH_PGWAKE, "package.json")).href)
          : packageVersion("../../package.json"),
        "graphile-worker": packageVersion("../node_modules/graphile-worker/package.json"),
        "pg-boss": packageVersion("../node_modules/pg-boss/package.json"),
        pg: packageVersion("../node_modules/pg/package.json"),
        postgres: packageVersion("../node_modules/postgres/package.json"),
        tsx: packageVersion("../node_modules/tsx/package.json"),
      },
      pgwakeCommit: measured,
    };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
