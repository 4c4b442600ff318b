import assert from "node:assert/strict";
import { run } from "../../src/cli/run.js";
import { latestVersion } from "../../src/db/migrate.js";
import { dbTest } from "../helpers/db.js";

function io(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { stdout: (t: string) => out.push(t), stderr: (t: string) => err.push(t), env },
  };
}

dbTest(
  "pgwake migrate brings a schema up to date and says where it stands",
  async ({ url, schema, admin }) => {
    const cli = io({ DATABASE_URL: url });
    assert.equal(await run(["migrate", "--schema", schema], cli.io), 0);
    assert.deepEqual(cli.out, [`schema "${schema}" is at migration ${latestVersion()}`]);
    const [row] = await admin.unsafe<Array<{ n: number }>>(
      `select count(*)::int as n from "${schema}"._migration_log`,
    );
    const n = row?.n;
    assert.equal(n, latestVersion());
  },
);

dbTest("pgwake fails with one line and a non-zero code", async ({ schema }) => {
  const noDb = io({});
  assert.equal(await run(["migrate", "--schema", schema], noDb.io), 1);
  assert.match(noDb.err.join("\n"), /^pgwake: no database given/);
  const bad = io({});
  assert.equal(await run(["frobnicate"], bad.io), 2);
  assert.match(bad.err[0] ?? "", /unknown command "frobnicate"/);
  assert.equal(await run(["--nope"], io().io), 2);
  const help = io();
  assert.equal(await run(["--help"], help.io), 0);
  assert.match(help.out[0] ?? "", /Usage: pgwake <command>/);
});
