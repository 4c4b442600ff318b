import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

export interface Child {
  process: ChildProcessWithoutNullStreams;
  /** The next message the child prints whose `event` is `event`. */
  next(event: string): Promise<Record<string, unknown>>;
  send(line: string): void;
  exited: Promise<number | null>;
}

/** Runs `test/fixtures/<fixture>.ts` in a child process that talks JSON lines. */
export function startChild(fixture: string, env: Record<string, string>): Child {
  const file = fileURLToPath(new URL(`../fixtures/${fixture}.ts`, import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", file], {
    env: { ...process.env, ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const messages: Array<Record<string, unknown>> = [];
  const waiters: Array<{ event: string; resolve: (m: Record<string, unknown>) => void }> = [];
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  createInterface({ input: child.stdout }).on("line", (line) => {
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
    next(event) {
      const index = messages.findIndex((m) => m.event === event);
      if (index >= 0) return Promise.resolve(messages.splice(index, 1)[0]!);
      return new Promise((resolve, reject) => {
        waiters.push({ event, resolve });
        void exited.then((code) =>
          reject(new Error(`child exited (${code}) before "${event}"; stderr:\n${stderr}`)),
        );
      });
    },
    send(line) {
      child.stdin.write(`${line}\n`);
    },
    exited,
  };
}
