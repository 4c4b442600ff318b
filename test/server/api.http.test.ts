import assert from "node:assert/strict";
import { dbTest } from "../helpers/db.js";
import { apiFor } from "../helpers/api.js";

dbTest(
  "unknown routes get 404, wrong methods 405, both in the JSON error shape",
  async ({ connect, defer }) => {
    const api = apiFor(await connect(), defer);
    const missing = await api.call("GET", "/api/nothing");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error.code, "NOT_FOUND");
    const wrong = await api.call("PUT", "/api/queues");
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.get("allow"), "GET, POST");
    assert.equal((await api.call("GET", "/dashboard/secret.txt")).status, 404);
    assert.equal((await api.call("GET", "/dashboard/..%2Fpackage.json")).status, 404);
  },
);

dbTest(
  "bodies over the limit get 413 and write nothing",
  async ({ connect, defer, admin, schema }) => {
    const client = await connect();
    await client.createQueue("big");
    const api = apiFor(client, defer, { maxBodyBytes: 1000 });
    const response = await api.call("POST", "/api/queues/big/jobs", { payload: "x".repeat(2000) });
    assert.equal(response.status, 413);
    assert.equal(response.body.error.code, "PAYLOAD_TOO_LARGE");
    assert.match(response.body.error.message, /1000 bytes/);
    const [row] = await admin.unsafe(`select count(*)::int as n from "${schema}"._jobs`);
    assert.equal(row!.n, 0);
    const typed = await api.call("POST", "/api/queues/big/jobs", "payload=1", {
      "content-type": "text/plain",
    });
    assert.equal(typed.status, 415);
  },
);

dbTest(
  "with a token, every request needs it; the dashboard may use the cookie, but not to change things silently",
  async ({ connect, defer }) => {
    const api = apiFor(await connect(), defer, { token: "s3cret" });
    for (const path of [
      "/api/queues",
      "/healthz",
      "/metrics",
      "/openapi.json",
      "/",
      "/api/events",
    ]) {
      const response = await api.call("GET", path);
      assert.equal(response.status, 401, path);
      assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="pgwake"');
    }
    assert.equal(
      (await api.call("GET", "/api/queues", undefined, { authorization: "Bearer nope" })).status,
      401,
    );
    assert.equal(
      (await api.call("GET", "/api/queues", undefined, { authorization: "Bearer s3cret" })).status,
      200,
    );
    const page = await api.call("GET", "/", undefined, { accept: "text/html" });
    assert.equal(page.status, 401);
    assert.match(page.text, /<form/, "a browser gets the sign-in form");
    assert.doesNotMatch(page.text, /s3cret/);
    const cookie = { cookie: "pgwake_token=s3cret" };
    assert.equal((await api.call("GET", "/api/queues", undefined, cookie)).status, 200);
    const garbled = await api.call("GET", "/api/queues", undefined, {
      cookie: "pgwake_token=%E0%A4%A",
    });
    assert.equal(garbled.status, 401, "a malformed cookie is a wrong token, not a server error");
    const silent = await api.call("POST", "/api/queues", { name: "x" }, cookie);
    assert.equal(silent.status, 403, "a cookie alone cannot change anything (CSRF)");
    const fromDashboard = await api.call(
      "POST",
      "/api/queues",
      { name: "x" },
      { ...cookie, "x-pgwake-dashboard": "1" },
    );
    assert.equal(fromDashboard.status, 201);
  },
);

dbTest(
  "openapi.json describes exactly the routes the handler serves",
  async ({ connect, defer }) => {
    const api = apiFor(await connect(), defer, {
      metrics: { contentType: "text/plain", render: async () => "" },
    });
    const doc = (await api.call("GET", "/openapi.json")).body;
    assert.equal(doc.openapi, "3.1.0");
    // What each body accepts is what its handler accepts: null unbounds a queue only in a PATCH,
    // and a batch's items wait for room as one batch (`timeout` beside `jobs`, not per item).
    const bodyOf = (path: string, method: string) =>
      doc.paths[path][method].requestBody.content["application/json"].schema;
    assert.deepEqual(
      bodyOf("/api/queues", "post").properties.options.properties.maxSize.type,
      "integer",
    );
    assert.deepEqual(
      bodyOf("/api/queues/{name}", "patch").properties.options.properties.maxSize.type,
      ["integer", "null"],
    );
    const batch = bodyOf("/api/queues/{name}/jobs", "post").oneOf[1];
    assert.ok(batch.properties.timeout, "a batch takes a timeout");
    assert.equal(batch.properties.jobs.items.properties.options.properties.timeout, undefined);
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
      .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`))
      .sort();
    const served = api.handler.routes
      .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, "{$1}")}`)
      .sort();
    assert.deepEqual(documented, served);
    // Every contract route is there.
    for (const route of [
      "GET /api/queues",
      "POST /api/queues",
      "GET /api/queues/{name}",
      "PATCH /api/queues/{name}",
      "DELETE /api/queues/{name}",
      "POST /api/queues/{name}/jobs",
      "GET /api/jobs",
      "GET /api/jobs/{id}",
      "POST /api/jobs/{id}/cancel",
      "POST /api/jobs/{id}/retry",
      "POST /api/queues/{name}/claim",
      "POST /api/jobs/{id}/ack",
      "POST /api/jobs/{id}/nack",
      "POST /api/jobs/{id}/heartbeat",
      "GET /api/events",
      "GET /metrics",
      "GET /healthz",
      "GET /openapi.json",
      "GET /",
    ]) {
      assert.ok(documented.includes(route), `${route} is documented`);
    }
    // Each route answers something other than 404 (it is really routed).
    for (const route of api.handler.routes) {
      if (route.path.includes(":") || route.path === "/api/events") continue;
      const response = await api.call(
        route.method,
        route.path,
        route.method === "GET" ? undefined : {},
      );
      assert.notEqual(response.status, 404, `${route.method} ${route.path}`);
    }
    for (const [path, methods] of Object.entries(
      doc.paths as Record<string, Record<string, { operationId: string; responses: object }>>,
    )) {
      for (const op of Object.values(methods)) {
        assert.ok(op.operationId && Object.keys(op.responses).length > 0, path);
      }
    }
  },
);

dbTest(
  "a database failure is a 503 that names no SQL and no stack",
  async ({ connect, defer, admin, schema }) => {
    const client = await connect();
    const errors: unknown[] = [];
    const api = apiFor(client, defer, { onError: (e) => errors.push(e) });
    await admin.unsafe(`drop table "${schema}"._queues cascade`);
    const response = await api.call("GET", "/api/queues");
    assert.equal(response.status, 503);
    assert.equal(response.body.error.code, "DATABASE");
    assert.doesNotMatch(response.text, /select|_queues|at \w+ \(|\.ts:/i);
    assert.equal(errors.length, 1, "the server's log gets the details");
  },
);
