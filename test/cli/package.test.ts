import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

test(
  "the built package imports as `pgwake` from another project, and its bin runs",
  { timeout: 120_000 },
  () => {
    execFileSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "pipe" });
    const project = mkdtempSync(join(tmpdir(), "pgwake-consumer-"));
    try {
      mkdirSync(join(project, "node_modules"));
      symlinkSync(root, join(project, "node_modules", "pgwake"), "dir");
      writeFileSync(join(project, "package.json"), JSON.stringify({ type: "module" }));
      writeFileSync(
        join(project, "index.js"),
        `import { connect, PgwakeError, ValidationError } from "pgwake";
       const error = await connect({ url: "mysql://nope" }).catch((e) => e);
       console.log(typeof connect, error instanceof ValidationError && error instanceof PgwakeError);`,
      );
      assert.equal(
        execFileSync(process.execPath, ["index.js"], { cwd: project }).toString().trim(),
        "function true",
      );
      const help = execFileSync(process.execPath, [
        join(root, "dist/cli/main.js"),
        "--help",
      ]).toString();
      assert.match(help, /Usage: pgwake <command>/);
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  },
);
