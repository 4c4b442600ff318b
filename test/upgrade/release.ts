/**
 * Loads a packed earlier release of pgwake (test/fixtures/releases/pgwake-<version>.tgz, made by
 * pack-release.ts) as a module of its own, next to the current source, so one test process can
 * run an old replica and a new one side by side.
 *
 * The tarball is unpacked with Node alone (gunzip and a small tar reader: a fresh machine may have
 * no `tar`), into a temporary directory whose node_modules links to this checkout's: the release
 * imports postgres, eventemitter3, ms, croner and prom-client from there.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { gunzipSync } from "node:zlib";
import type * as pgwake from "../../src/index.js";

const root = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The public module of the release. Typed with today's API for convenience; the release's own
 * code is what runs, so a call it does not know fails at run time, as it would for a user.
 */
export type PgwakeModule = typeof pgwake;

export interface Release {
  version: string;
  module: PgwakeModule;
  /** Removes the unpacked files. */
  remove(): void;
}

/**
 * @example
 * const old = await loadRelease("0.1.0");
 * const client = await old.module.connect({ url, schema });
 */
export async function loadRelease(version: string): Promise<Release> {
  const tarball = join(root, `test/fixtures/releases/pgwake-${version}.tgz`);
  const directory = mkdtempSync(join(tmpdir(), `pgwake-${version}-`));
  try {
    extractTar(gunzipSync(readFileSync(tarball)), directory);
    const packageDir = join(directory, "package");
    // "junction" makes the link without special rights on Windows; elsewhere it is ignored.
    symlinkSync(join(root, "node_modules"), join(packageDir, "node_modules"), "junction");
    const entry = pathToFileURL(join(packageDir, "dist/index.js")).href;
    const module = (await import(entry)) as PgwakeModule;
    return { version, module, remove: () => rmSync(directory, { recursive: true, force: true }) };
  } catch (error) {
    rmSync(directory, { recursive: true, force: true });
    throw error;
  }
}

/** Writes the regular files of a ustar archive (what `npm pack` makes) under `target`. */
function extractTar(archive: Buffer, target: string): void {
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= archive.length) {
    const header = archive.subarray(offset, offset + 512);
    if (header.every((byte) => byte === 0)) break; // the end-of-archive blocks
    const field = (start: number, length: number): string =>
      header.toString("utf8", start, start + length).replace(/\0.*$/s, "");
    const size = parseInt(field(124, 12).trim() || "0", 8);
    const type = field(156, 1) || "0";
    const prefix = field(345, 155);
    const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    const body = archive.subarray(offset + 512, offset + 512 + size);
    offset += 512 + Math.ceil(size / 512) * 512;
    longName = undefined;
    if (type === "x") {
      // A pax header: only its path matters here (node-tar writes one for long names).
      longName = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString("utf8"))?.[1];
      continue;
    }
    if (type === "5" || type === "g") continue;
    if (type !== "0") throw new Error(`unexpected tar entry type "${type}" for ${name}`);
    const path = normalize(join(target, name));
    if (!path.startsWith(target)) throw new Error(`tar entry ${name} escapes the target`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, body);
  }
}
