/** Runs the CLI in this process with captured output (not a test file: no `.test.ts`). */
import { run, type CliIo } from "../../src/cli/run.js";

export interface CliResult {
  code: number;
  /** Everything written to stdout, lines joined. */
  stdout: string;
  stderr: string;
}

export function capture(env: NodeJS.ProcessEnv = {}): {
  io: CliIo;
  stdout(): string;
  stderr(): string;
} {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: (text) => out.push(text), stderr: (text) => err.push(text), env },
    stdout: () => out.join("\n"),
    stderr: () => err.join("\n"),
  };
}

/** `pgwake ...argv` with `env` (and nothing of this process's environment). */
export async function cli(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const { io, stdout, stderr } = capture(env);
  const code = await run(argv, io);
  return { code, stdout: stdout(), stderr: stderr() };
}
