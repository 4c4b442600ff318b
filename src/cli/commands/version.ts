import { readFileSync } from "node:fs";
import type { Command } from "../command.js";

/** This package's version, from its package.json. */
export function packageVersion(): string {
  const file = new URL("../../../package.json", import.meta.url);
  return (JSON.parse(readFileSync(file, "utf8")) as { version: string }).version;
}

/**
 * `pgwake version`.
 *
 * @example
 * ```sh
 * pgwake version
 * ```
 */
export const versionCommand: Command = {
  name: "version",
  summary: "print the pgwake version",
  description: "Prints the version of this pgwake.",
  options: [],
  database: false,
  async run(_args, io) {
    io.stdout(packageVersion());
    return 0;
  },
};
