import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export interface Child {
  process: ChildProcessWithoutNullStreams;
  /** Everything printed to stdout so far. */
  stdout(): string;
  stderr(): string;
  /** The first stdout line (past or future) matching `pattern`. */
  line(pattern: RegExp): Promise<RegExpMatchArray>;
  /** The next message the child prints whose `event` is `event`. */
  next(event: string): Promise<Record<string, unknown>>;
  send(line: string): void;
  exited: Promise<number | null>;
}

/**
 * Runs `test/fixtures/<fixture>.ts` (or any path relative to test/fixtures) in a child process
 * with tsx. Fixtures talk JSON lines; plain lines can be matched with `line`.
 */
export function startChild(fixture: string, env: Record<string, string>): Child {
  const file = fileURLToPath(new URL(`../fixtures/${fixture}.ts`, import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", file], {
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  return watchChild(child, "child");
}

/**
 * Follows a spawned process's output: its stdout lines (to match with `line`), its JSON-line
 * messages (`next`), its stderr, and its exit. `name` is how errors refer to it.
 */
export function watchChild(child: ChildProcessWithoutNullStreams, name: string): Child {
  const messages: Array<Record<string, unknown>> = [];
  const waiters: Array<{ event: string; resolve: (m: Record<string, unknown>) => void }> = [];
  let stderr = "";
  const lines: string[] = [];
  const lineWaiters: Array<{ pattern: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on("line", (line) => {
    lines.push(line);
    for (const waiter of [...lineWaiters]) {
      const match = line.match(waiter.pattern);
      if (match) {
        lineWaiters.splice(lineWaiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const waiter = waiters.findIndex((w) => w.event === message.event);
    if (waiter >= 0) waiters.splice(waiter, 1)[0]!.resolve(message);
    else messages.push(message);
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
        lineWaiters.push({ pattern, resolve });
        void exited.then((code) =>
          reject(
            new Error(`${name} exited (${code}) before printing ${pattern}; stderr:\n${stderr}`),
          ),
        );
      });
    },
    next(event) {
      const index = messages.findIndex((m) => m.event === event);
      if (index >= 0) return Promise.resolve(messages.splice(index, 1)[0]!);
      return new Promise((resolve, reject) => {
        waiters.push({ event, resolve });
        void exited.then((code) =>
          reject(new Error(`${name} exited (${code}) before "${event}"; stderr:\n${stderr}`)),
        );
      });
    },
    send(line) {
      child.stdin.write(`${line}\n`);
    },
    exited,
  };
}
