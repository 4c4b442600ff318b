import { readdirSync, readFileSync } from "node:fs";
import { extname } from "node:path";
import { fileURLToPath } from "node:url";

/** The dashboard's files: `../../src/server/dashboard/` from both `src/server` and `dist/server`. */
const DASHBOARD_DIR = fileURLToPath(new URL("../../src/server/dashboard/", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

let files: Map<string, { body: Buffer; type: string }> | undefined;

/**
 * The dashboard's static files, read once. It is plain HTML, CSS and JavaScript shipped in the
 * package (no CDN, no build step), so it works offline.
 */
export function dashboardFile(name: string): { body: Buffer; type: string } | undefined {
  files ??= new Map(
    readdirSync(DASHBOARD_DIR)
      .filter((file) => TYPES[extname(file)])
      .map((file) => [
        file,
        { body: readFileSync(`${DASHBOARD_DIR}${file}`), type: TYPES[extname(file)]! },
      ]),
  );
  return files.get(name);
}
