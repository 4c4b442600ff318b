import assert from "node:assert/strict";
import { createServer } from "node:net";
import { dbTest, within } from "../helpers/db.js";
import { cleanEnv, startBin } from "./bin.js";
import { cli } from "./capture.js";

dbTest(
  "pgwake run serves the API on the given database until SIGTERM, then exits with 0",
  async ({ url, schema, admin, defer }) => {
    const bin = startBin(["run", "--port", "0", "--url", url, "--schema", schema], cleanEnv());
    defer(() => bin.process.kill("SIGKILL"));
    const [, address] = await within(
      bin.line(/^serving +(http:\/\/\S+)/),
      15_000,
      "pgwake run to serve",
    );
    assert.match(address!, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(new URL(address!).port, "0", "--port 0 prints the real port");
    assert.match(bin.stdout(), new RegExp(`^schema +${schema}$`, "m"));
    // The database it uses, without its password.
    const shown = new URL(url);
    if (shown.password) shown.password = "***";
    assert.ok(bin.stdout().split("\n").includes(`database  ${shown.toString()}`), bin.stdout());

    const health = await fetch(`${address}/healthz`);
    assert.equal(health.status, 200);
    const created = await fetch(`${address}/api/queues`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "over-http" }),
    });
    assert.equal(created.status < 300, true, await created.text());
    // It migrated the schema and works in it.
    const [row] = await admin.unsafe<[{ n: number }]>(
      `select count(*)::int as n from "${schema}".queues where name = 'over-http'`,
    );
    assert.equal(row.n, 1);

    const stopping = Date.now();
    bin.process.kill("SIGTERM");
    assert.equal(await within(bin.exited, 5000, "pgwake run to exit after SIGTERM"), 0);
    assert.ok(Date.now() - stopping < 5000);
    assert.match(bin.stdout(), /SIGTERM: stopping$/);
    assert.equal(bin.stderr(), "");
  },
);

dbTest("pgwake run says so when its HTTP port is taken", async ({ url, schema }) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
  try {
    const port = (blocker.address() as { port: number }).port;
    const result = await cli(["run", "--url", url, "--schema", schema, "--port", String(port)]);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `pgwake: port ${port} on 127.0.0.1 is taken (another pgwake run?): pass --port with a free port, or --port 0 to take any free one`,
    );
  } finally {
    blocker.close();
  }
});
