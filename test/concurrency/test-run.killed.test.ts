import assert from "node:assert/strict";
import { execSync, spawn } from "node:child_process";
import { connect as netConnect } from "node:net";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { until, within } from "../helpers/db.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ port, host: "127.0.0.1" });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test(
  "a test run killed with SIGKILL leaves no PostgreSQL (and no test process) running",
  { timeout: 90_000 },
  async () => {
    const env = { ...process.env };
    delete env.DATABASE_URL; // the run must start its own embedded server
    delete env.PGWAKE_TEST_CONTAINERS;
    delete env.NODE_TEST_CONTEXT; // set inside a test; a nested test runner would report to us instead
    const run = spawn(
      process.execPath,
      ["--import", "tsx", "test/run.ts", "test/fixtures/hang.test.ts"],
      {
        cwd: root,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    run.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const ready = new Promise<string>((resolve, reject) => {
      createInterface({ input: run.stdout }).on("line", (line) => {
        const match = /HANG-READY (\S+)/.exec(line);
        if (match) resolve(match[1]!);
      });
      run.on("exit", () => reject(new Error(`the run ended early:\n${stderr}`)));
    });
    const port = Number(new URL(await within(ready, 60_000, "the hanging test to start")).port);
    assert.ok(await accepts(port), "the embedded server is up");
    const testProcesses = execSync(`pgrep -f "test/fixtures/hang.test.ts" || true`)
      .toString()
      .split("\n")
      .filter(Boolean)
      .map(Number)
      .filter((pid) => pid !== run.pid);
    assert.ok(testProcesses.length > 0, "the test processes are found");
    run.kill("SIGKILL");
    await until(
      async () => !(await accepts(port)),
      20_000,
      "the watchdog to stop the embedded server",
    );
    await until(
      () => testProcesses.every((pid) => !alive(pid)),
      10_000,
      "the orphaned test processes to be killed",
    );
  },
);
