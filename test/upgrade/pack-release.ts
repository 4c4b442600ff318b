/**
 * Packs a tagged release of pgwake into test/fixtures/releases/pgwake-<version>.tgz, the file the
 * rolling-upgrade test runs as "the previous release". The test needs neither git nor the
 * network: the packed file is committed, because a fresh clone may not fetch tags.
 *
 *   node --import tsx test/upgrade/pack-release.ts v0.1.0
 *
 * The release is built from `git archive <tag>` with its own TypeScript settings. When its
 * package-lock.json is the one checked out here, it compiles with this checkout's node_modules;
 * otherwise it runs `npm ci` first. The package keeps only what the test runs (the compiled
 * JavaScript and the SQL): no type declarations, source maps or dashboard, so it stays small.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));
const destination = join(root, "test/fixtures/releases");

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, stdio: ["ignore", "pipe", "inherit"] }).toString();
}

function sameLockfile(tag: string): boolean {
  try {
    execFileSync("git", ["diff", "--quiet", tag, "--", "package-lock.json"], { cwd: root });
    return true;
  } catch {
    return false;
  }
}

function pack(tag: string): string {
  const work = mkdtempSync(join(tmpdir(), "pgwake-pack-"));
  try {
    run("sh", ["-c", `git archive --format=tar "${tag}" | tar -x -C "${work}"`], root);
    if (sameLockfile(tag)) symlinkSync(join(root, "node_modules"), join(work, "node_modules"));
    else run("npm", ["ci", "--ignore-scripts", "--no-audit", "--no-fund"], work);
    run(join(work, "node_modules/.bin/tsc"), ["-p", "tsconfig.build.json"], work);

    const manifestPath = join(work, "package.json");
    const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as Record<string, unknown>;
    manifest.files = ["dist/**/*.js", "sql"];
    writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

    mkdirSync(destination, { recursive: true });
    const file = run(
      "npm",
      ["pack", "--ignore-scripts", "--silent", "--pack-destination", destination],
      work,
    ).trim();
    return join(destination, file);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const tag = process.argv[2] ?? "v0.1.0";
const file = pack(tag);
console.log(`${tag} → ${file} (${readFileSync(file).length} bytes)`);
