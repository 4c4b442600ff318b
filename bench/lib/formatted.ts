/**
 * Writes a results file formatted as `npm run lint` (`prettier --check .`) expects, with the
 * repository's prettier when it is installed (it is a dev dependency; without it the text is
 * written as it is).
 */
import { writeFileSync } from "node:fs";

export async function writeFormatted(path: string, text: string): Promise<string> {
  let out = text;
  try {
    const prettier = await import("prettier");
    const config = (await prettier.resolveConfig(path)) ?? {};
    out = await prettier.format(text, { ...config, filepath: path });
  } catch {
    // no prettier here: the file is still right, only not aligned
  }
  writeFileSync(path, out);
  return out;
}
