/**
 * Every example runs as a test, as a user would run it (`npx tsx examples/<name>.ts`), against a
 * fresh schema, and its output is checked.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { startServer } from "../src/server/start.js";
import { startChild } from "./helpers/child.js";
import { dbTest, within } from "./helpers/db.js";

dbTest(
  "examples/quickstart.ts runs and prints the worker's result",
  async ({ url, schema, defer }) => {
    const child = startChild("../../examples/quickstart", {
      DATABASE_URL: url,
      PGWAKE_SCHEMA: schema,
    });
    defer(() => child.process.kill("SIGKILL"));
    assert.equal(await within(child.exited, 30_000, "the quickstart to finish"), 0, child.stderr());
    const output = child.stdout();
    assert.match(output, /^enqueued job [0-9a-f-]{36}$/m);
    assert.match(output, /^sending to ada@example\.com \(attempt 1\)$/m);
    assert.match(output, /^delivered as msg-[0-9a-f]{6}$/m);
  },
);

dbTest(
  "examples/echo.ts: copies share the queue, and killing one mid-job loses nothing",
  async ({ url, schema, defer, connect }) => {
    const env = {
      DATABASE_URL: url,
      PGWAKE_SCHEMA: schema,
      PORT: "0",
      ECHO_INTERVAL_MS: "150",
      ECHO_LEASE: "1s",
    };
    const copies = [startChild("../../examples/echo", env), startChild("../../examples/echo", env)];
    for (const copy of copies) defer(() => copy.process.kill("SIGKILL"));
    const ports = await Promise.all(
      copies.map(async (copy) =>
        Number(
          (
            await within(
              copy.line(/listening on http:\/\/127\.0\.0\.1:(\d+)/),
              30_000,
              "a copy to listen",
            )
          )[1],
        ),
      ),
    );

    const post = (port: number, body: unknown) =>
      fetch(`http://127.0.0.1:${port}/producer`, { method: "POST", body: JSON.stringify(body) });
    const bad = await post(ports[0]!, { text: "x" });
    assert.equal(bad.status, 400);
    const response = await post(ports[0]!, { text: "hello", time: 6 });
    assert.equal(response.status, 202);
    const { id } = (await response.json()) as { id: string };

    // Whichever copy took the job prints its first echo; kill that copy mid-job.
    const first = await within(
      Promise.race(
        copies.map((copy, index) =>
          copy.line(new RegExp(`hello \\(1/6\\) job ${id} attempt 1`)).then(() => index),
        ),
      ),
      10_000,
      "the first echo",
    );
    copies[first]!.process.kill("SIGKILL");
    const survivor = copies[1 - first]!;
    await within(
      survivor.line(new RegExp(`hello \\(6/6\\) job ${id} attempt 2`)),
      15_000,
      "the survivor to echo all six",
    );

    const client = await connect();
    assert.deepEqual(
      await within(client.queue("echo").completion(id), 5000, "the job to complete"),
      { echoed: 6 },
    );
  },
);

/** Runs an example to completion and returns its output, failing with its stderr if it fails. */
async function runExample(
  name: string,
  env: Record<string, string>,
  defer: (f: () => unknown) => void,
): Promise<string> {
  const child = startChild(`../../examples/${name}`, env);
  defer(() => child.process.kill("SIGKILL"));
  const code = await within(child.exited, 30_000, `examples/${name}.ts to finish`);
  assert.equal(code, 0, child.stderr());
  return child.stdout();
}

const FEATURE_EXAMPLES: Array<[string, RegExp[]]> = [
  ["bounded-queue", [/^all 12 sends landed$/m, /^gave up: full is full$/m]],
  [
    "dedup",
    [/^one job for welcome:42$/m, /^welcomed user 42$/m, /^a new job once the first finished$/m],
  ],
  ["workflow", [/^publish done$/m, /^order: fetch → resize \+ scan → publish$/m]],
  ["filters", [/^eu worker got eu-daily\neu worker got eu-weekly$/m, /^cancelled 1 us job$/m]],
  [
    "transactional",
    [
      /^inside the transaction the queue holds 0 jobs$/m,
      /^after commit it holds 1$/m,
      /^after a rollback it still holds 1$/m,
    ],
  ],
  ["sql-enqueue", [/^emailed order \d+$/m]],
  ["schedule", [/^tick 1: pong\ntick 2: pong$/m]],
  ["retention", [/^finished: completed$/m, /^deleted after its retention$/m]],
];

for (const [name, expected] of FEATURE_EXAMPLES) {
  dbTest(
    `examples/${name}.ts runs and prints what the README says`,
    async ({ url, schema, defer }) => {
      const output = await runExample(name, { DATABASE_URL: url, PGWAKE_SCHEMA: schema }, defer);
      for (const pattern of expected) assert.match(output, pattern);
    },
  );
}

dbTest(
  "examples/worker-service.ts answers health checks and shuts down gracefully on SIGTERM",
  async ({ url, schema, defer, connect }) => {
    const child = startChild("../../examples/worker-service", {
      DATABASE_URL: url,
      PGWAKE_SCHEMA: schema,
      PORT: "0",
    });
    defer(() => child.process.kill("SIGKILL"));
    const [, healthUrl] = await within(
      child.line(/^health checks on (http:\S+)$/),
      30_000,
      "the service to listen",
    );
    const healthy = await fetch(healthUrl!);
    assert.equal(healthy.status, 200);
    assert.deepEqual(await healthy.json(), { ok: true, database: true, listening: true });

    const client = await connect();
    const sent = client.queue("thumbnails").send({ image: "cat.png", ms: 800 });
    await within(child.line(/^working on cat\.png .* attempt 1\)$/), 10_000, "the job to start");
    child.process.kill("SIGTERM");
    await within(child.line(/^SIGTERM: no new jobs/), 5000, "the shutdown to begin");
    assert.equal((await fetch(healthUrl!)).status, 503, "not ready while shutting down");
    assert.equal(await within(child.exited, 15_000, "the service to exit"), 0, child.stderr());
    const output = child.stdout();
    assert.ok(
      output.includes("done with cat.png") &&
        output.indexOf("done with cat.png") < output.indexOf("stopped cleanly"),
      "the running job finished before the service stopped",
    );
    assert.deepEqual(await within(sent.completed, 5000, "the job's completion"), {
      thumbnail: "cat.png.thumb.png",
    });
  },
);

dbTest(
  "examples/http-api.sh enqueues, claims and acks through the HTTP API with curl",
  async ({ defer, connect }) => {
    const client = await connect();
    const server = await startServer(client, { port: 0, token: "example-token" });
    defer(() => server.close(1000));
    const script = spawn(
      "bash",
      [fileURLToPath(new URL("../examples/http-api.sh", import.meta.url))],
      {
        env: { ...process.env, PGWAKE_URL: server.url, PGWAKE_TOKEN: "example-token" },
      },
    );
    defer(() => script.kill("SIGKILL"));
    let output = "";
    script.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    script.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await within(once(script, "exit"), 30_000, "the script to finish").catch(
      (error: Error) => {
        // Say how far the script got: which request hung.
        throw new Error(`${error.message}; its output so far:\n${output}`, { cause: error });
      },
    )) as [number];
    assert.equal(code, 0, output);
    const id = /^enqueued ([0-9a-f-]{36})$/m.exec(output)?.[1];
    assert.ok(id, output);
    assert.match(output, new RegExp(`^claimed ${id}$`, "m"));
    assert.match(output, /^state: completed$/m);
    assert.match(output, /^waited: queued$/m);
    assert.deepEqual((await client.queue("resize").get(id))?.result, { thumbnail: "cat-128.png" });
  },
);
