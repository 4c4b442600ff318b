import { readFileSync } from "node:fs";

let cached: string | undefined;

/**
 * pgwake's version, from its package.json (`../../package.json` from both `src/util` and
 * `dist/util`), read once.
 */
export function packageVersion(): string {
  cached ??= (
    JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    }
  ).version;
  return cached;
}
