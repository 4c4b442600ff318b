import type { Command } from "../command.js";
import { withClient } from "../connect.js";

/**
 * `pgwake migrate`.
 *
 * @example
 * ```sh
 * pgwake migrate --url postgres://localhost/app --schema jobs
 * ```
 */
export const migrateCommand: Command = {
  name: "migrate",
  summary: "create the schema or bring it up to date",
  description:
    "Applies pending migrations (safe to run from many places at once) and prints the migration the schema is at.",
  options: [],
  database: true,
  async run(args, io) {
    // Connecting applies pending migrations; migrate() then reports where the schema stands.
    const { schema, version } = await withClient(
      args,
      io,
      async (client) => ({ schema: client.schema, version: (await client.migrate()).version }),
      { migrate: true },
    );
    io.stdout(`schema "${schema}" is at migration ${version}`);
    return 0;
  },
};
