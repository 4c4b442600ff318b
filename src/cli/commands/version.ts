import { packageVersion } from "../../util/version.js";
import type { Command } from "../command.js";

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
