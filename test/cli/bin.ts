/** Runs the real `pgwake` bin (src/cli/main.ts under tsx) as a child process (not a test file). */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { watchChild, type Child } from "../helpers/child.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The running bin: its output lines, stderr and exit code (null when killed by a signal). */
export type Bin = Child;

export function startBin(args: string[], env: NodeJS.ProcessEnv): Bin {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: root,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  return watchChild(child, "pgwake");
}

/** The environment of this process without the variables pgwake reads. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.PGWAKE_SCHEMA;
  delete env.PGWAKE_TOKEN;
  delete env.NODE_TEST_CONTEXT;
  return { ...env, ...extra };
}
