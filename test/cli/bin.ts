/** Runs the real `pgwake` bin (src/cli/main.ts under tsx) as a child process (not a test file). */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

export interface Bin {
  process: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** The first stdout line (past or future) matching `pattern`; rejects if the bin exits first. */
  line(pattern: RegExp): Promise<RegExpMatchArray>;
  /** The exit code (null when killed by a signal). */
  exited: Promise<number | null>;
}

export function startBin(args: string[], env: NodeJS.ProcessEnv): Bin {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], {
    cwd: root,
    env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const lines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (match: RegExpMatchArray) => void }> = [];
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on("line", (line) => {
    lines.push(line);
    for (const waiter of [...waiters]) {
      const match = line.match(waiter.pattern);
      if (match) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return {
    process: child,
    stdout: () => lines.join("\n"),
    stderr: () => stderr,
    line(pattern) {
      for (const line of lines) {
        const match = line.match(pattern);
        if (match) return Promise.resolve(match);
      }
      return new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        void exited.then((code) =>
          reject(
            new Error(`pgwake exited (${code}) before printing ${pattern}; stderr:\n${stderr}`),
          ),
        );
      });
    },
    exited,
  };
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
