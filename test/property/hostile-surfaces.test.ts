/**
 * Random hostile input against the surfaces other programs use: the HTTP API (JSON bodies, query
 * strings, path parameters), the CLI's command line, and SQL's `send()`. The property: a 4xx
 * JSON error (no stack, no SQL, nothing written), a non-zero exit code with one `pgwake:` line
 * (nothing written), or PW0xx SQLSTATEs (nothing written); or success, and the value reads back
 * unchanged. Never a 5xx, a crash, or a partial write.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type postgres from "postgres";
import { run } from "../../src/cli/run.js";
import type { Client } from "../../src/index.js";
import { ValidationError } from "../../src/errors.js";
import { DEFAULT_MAX_PAYLOAD_BYTES, normaliseSend } from "../../src/options.js";
import { checkQueueName, isPlainObject } from "../../src/util/checks.js";
import { apiFor, type ApiResponse } from "../helpers/api.js";
import { dbTest, within } from "../helpers/db.js";
import {
  attributes,
  cleanValue,
  dedupKey,
  delay,
  hostileString,
  hostileValue,
  maxAttempts,
  priority,
  queueName,
  show,
  storable,
  storableString,
  type Tagged,
} from "./arbitraries.js";
import {
  capture,
  checkProperty,
  PROPERTY_TEST_TIMEOUT,
  countRows,
  fcParameters,
  jsonRoundTrip,
  table,
} from "./support.js";

/**
 * Everything a write could change, in one comparable value. A delayed job's `scheduled` reads as
 * `queued` (its run_at is kept): the client's own timer promotes it when it falls due, which may
 * happen between two fingerprints without any request writing.
 */
async function fingerprint(admin: postgres.Sql, schema: string): Promise<string> {
  const [row] = await admin.unsafe(`
    select (select count(*) || ':' || coalesce(string_agg(
                     id::text || (case state when 'scheduled' then 'queued' else state::text end)
                     || attempt || run_at::text || coalesce(result::text, ''), ',' order by id), '')
            from ${table(schema, "_jobs")}) as jobs,
           (select coalesce(string_agg(q::text, ',' order by name), '')
            from ${table(schema, "_queues")} q) as queues,
           (select count(*) from ${table(schema, "_schedules")}) as schedules`);
  return JSON.stringify(row);
}

/** An error answer: JSON in the documented shape, saying nothing about the server's insides. */
function assertCleanError(response: ApiResponse, schema: string, what: string): void {
  assert.ok(
    response.status >= 400 && response.status < 500,
    `${what}: ${response.status} ${response.text}`,
  );
  assert.match(response.headers.get("content-type") ?? "", /application\/json/, what);
  assert.equal(typeof response.body?.error?.code, "string", `${what}: ${response.text}`);
  assert.equal(typeof response.body?.error?.message, "string", what);
  assert.doesNotMatch(response.text, /\n\s+at |\\n\s+at /, `${what}: no stack trace`);
  assert.ok(
    !response.text.includes(schema),
    `${what}: no SQL (the schema name) in ${response.text}`,
  );
}

const segment = fc.oneof(
  queueName,
  hostileString,
  fc.constantFrom(
    "..",
    ".",
    "%2e%2e",
    "%ZZ",
    "%00",
    "a%2Fb",
    "00000000-0000-7000-8000-000000000000",
  ),
);

/** A path segment as a client would send it: usually encoded, sometimes raw. */
const pathSegment = fc
  .tuple(segment, fc.boolean())
  .map(([s, raw]) => (raw ? s.replace(/[/?#]/g, "") : encodeURIComponent(s.toWellFormed())));

const rawBody = fc.oneof(
  fc.constantFrom(
    "{",
    "[]",
    "null",
    '"text"',
    "\ufeff{}",
    '{"__proto__": {"admin": true}, "payload": 1}',
    '{"payload": "\\u0000"}',
    '{"payload": "\\ud800"}',
    '{"payload": 1e400}',
    '{"payload": 1, "payload": 2}',
    `{"payload": ${"[".repeat(5000)}${"]".repeat(5000)}}`,
    "[".repeat(100_000),
  ),
  hostileString,
);

const runAt = fc.oneof(
  fc
    .date({ min: new Date("2000-01-01"), max: new Date("2100-01-01"), noInvalidDate: true })
    .map((d) => d.toISOString()),
  fc.constantFrom<unknown>(
    "2030-01-01T09:00:00+02:00",
    "2030-01-01",
    "2030-01-01T00:00:00",
    "tomorrow",
    "",
    "2030-13-01T00:00:00Z",
    "+275760-09-13T00:00:00.001Z",
    0,
    null,
  ),
);

const tagValues = (tagged: Record<string, Tagged | undefined>) =>
  Object.fromEntries(Object.entries(tagged).map(([k, t]) => [k, t!.value]));

/** Hostile values for each field a route's JSON body may have. */
const FIELD = {
  payload: fc.oneof(hostileValue, cleanValue),
  sendOptions: fc
    .record({ priority, delay, key: dedupKey, attributes, maxAttempts }, { requiredKeys: [] })
    .map(tagValues)
    .chain((options) =>
      // JSON has no dates: runAt is a date-time string with its offset.
      fc
        .option(runAt, { nil: undefined })
        .map((at) => (at === undefined ? options : { ...options, runAt: at })),
    ),
  // No maxSize: a send to a full bounded queue waits for room (its own tests cover that).
  queueOptions: fc.record({ maxAttempts, retention: delay }, { requiredKeys: [] }).map(tagValues),
  jobs: fc.array(fc.record({ payload: fc.oneof(hostileValue, cleanValue) }), { maxLength: 3 }),
  name: fc.oneof(queueName, fc.constant("api")),
  token: fc.oneof(hostileString, fc.uuid()),
  result: fc.oneof(hostileValue, cleanValue),
  error: fc.oneof(hostileValue, hostileString),
  batch: fc.constantFrom<unknown>(1, 0, -1, 1.5, 1001, "1", NaN),
  filter: attributes.map((t) => t.value),
  wait: fc.constantFrom<unknown>("1ms", 0, -1, "10 years", NaN, "abc"),
  delay: delay.map((t) => t.value),
};

/** A body with some of a route's fields (`options` from `sendOptions` or `queueOptions`), and now
 * and then a field it does not take. */
function body(fields: Record<string, keyof typeof FIELD>): fc.Arbitrary<Record<string, unknown>> {
  const record = Object.fromEntries(Object.entries(fields).map(([k, f]) => [k, FIELD[f]]));
  return fc
    .tuple(
      fc.record(record as Record<string, fc.Arbitrary<unknown>>, { requiredKeys: [] }),
      fc.oneof(
        { weight: 8, arbitrary: fc.constant(null) },
        { weight: 1, arbitrary: fc.constantFrom("stray", "__proto__", "tx") },
      ),
    )
    .map(([value, stray]) => (stray === null ? value : { ...value, [stray]: 1 }));
}

const NO_BODY = fc.constant({});

const ROUTES: Array<[string, string, fc.Arbitrary<Record<string, unknown>>]> = [
  ["POST", "/api/queues", body({ name: "name", options: "queueOptions" })],
  ["GET", "/api/queues/:p", NO_BODY],
  ["PATCH", "/api/queues/:p", body({ options: "queueOptions" })],
  ["DELETE", "/api/queues/:p", NO_BODY],
  ["POST", "/api/queues/:p/jobs", body({ payload: "payload", options: "sendOptions" })],
  ["POST", "/api/queues/:p/jobs", body({ jobs: "jobs" })],
  ["POST", "/api/queues/:p/claim", body({ batch: "batch", filter: "filter", wait: "wait" })],
  ["GET", "/api/jobs", NO_BODY],
  ["GET", "/api/jobs/:p", NO_BODY],
  ["POST", "/api/jobs/:p/cancel", NO_BODY],
  ["POST", "/api/jobs/:p/retry", NO_BODY],
  ["POST", "/api/jobs/:p/ack", body({ token: "token", result: "result" })],
  ["POST", "/api/jobs/:p/nack", body({ token: "token", error: "error", delay: "delay" })],
  ["POST", "/api/jobs/:p/heartbeat", body({ token: "token" })],
];

/** Query strings: hostile values, and only waits that are refused or tiny (a valid long one
 * would hold the request open for minutes). */
const query = fc
  .tuple(
    fc.array(
      fc.tuple(
        fc.constantFrom("queue", "state", "limit", "cursor", "x", "__proto__"),
        fc.oneof(hostileString, fc.constantFrom("1e3", "-1", "queued", "api", "50", "0")),
      ),
      { maxLength: 3 },
    ),
    fc.oneof(
      { weight: 3, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constantFrom("0", "1ms", "abc", "-1", "1e400", "10 years", "%") },
    ),
  )
  .map(([pairs, wait]) => {
    const params = new URLSearchParams(pairs);
    if (wait !== null) params.set("wait", wait);
    const text = params.toString();
    return text ? `?${text}` : "";
  });

interface Attempt {
  method: string;
  path: string;
  body: string | undefined;
}

function attempts(ids: string[], leases: Array<{ id: string; leaseToken: string }>) {
  const anyRoute = fc
    .constantFrom(...ROUTES)
    .chain(([method, template, json]) =>
      fc.tuple(
        fc.constant(method),
        fc.constant(template),
        fc.oneof(pathSegment, fc.constantFrom(...ids), fc.constant("api")),
        query,
        fc.oneof(
          { weight: 3, arbitrary: json.map((b) => safeStringify(b)) },
          { weight: 1, arbitrary: rawBody },
        ),
      ),
    )
    .map(([method, template, param, search, text]): Attempt => ({
      method,
      path: template.replace(":p", param) + search,
      body: method === "GET" || method === "DELETE" ? undefined : text,
    }));
  // A real lease with a hostile result or error: the writes that may succeed.
  const onLease = fc
    .tuple(
      fc.constantFrom(...leases),
      fc.constantFrom(
        ["ack", body({ result: "result" })] as const,
        ["nack", body({ error: "error", delay: "delay" })] as const,
        ["heartbeat", NO_BODY] as const,
      ),
    )
    .chain(([lease, [action, json]]) =>
      json.map((b): Attempt => ({
        method: "POST",
        path: `/api/jobs/${lease.id}/${action}`,
        body: safeStringify({ ...b, token: lease.leaseToken }),
      })),
    );
  return fc.oneof({ weight: 4, arbitrary: anyRoute }, { weight: 1, arbitrary: onLease });
}

/** JSON text of a generated body; what JSON cannot carry (a BigInt) makes it raw text. */
function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value) ?? "undefined";
  } catch {
    return "10n";
  }
}

dbTest(
  "the HTTP API answers hostile requests with a 4xx JSON error and writes nothing, or does it right",
  async ({ connect, admin, schema, defer }) => {
    const client = await connect();
    const api = apiFor(client, defer);
    const q = await client.createQueue("api");
    const ids = await q.sendMany([{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
    const claimed = await api.call("POST", "/api/queues/api/claim", { batch: 2 });
    const leases = claimed.body.jobs as Array<{ id: string; leaseToken: string }>;
    assert.equal(leases.length, 2);
    const statuses = new Map<number, number>();
    await checkProperty(
      fc.asyncProperty(attempts(ids, leases), async ({ method, path, body }) => {
        const what = `${method} ${path} ${body?.slice(0, 300) ?? ""}`;
        const before = await fingerprint(admin, schema);
        const response = await within(api.call(method, path, body), 30_000, what);
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status >= 400) {
          assertCleanError(response, schema, what);
          assert.equal(
            await fingerprint(admin, schema),
            before,
            `${what}: a refused request writes nothing`,
          );
          return;
        }
        assert.ok(response.status < 300, `${what}: ${response.status}`);
        if (/^\/api\/queues\/[^/]+\/jobs/.test(path) && response.body?.id) {
          const sent = JSON.parse(body!) as { payload: unknown; options?: { runAt?: string } };
          assert.ok(storable(sent.payload), `${what} must be refused`);
          const job = await client.job(response.body.id);
          assert.deepEqual(job?.payload, jsonRoundTrip(sent.payload));
          const at = sent.options?.runAt;
          if (at !== undefined) assert.equal(job?.runAt.getTime(), Date.parse(at), what);
        }
      }),
      fcParameters(200, 25),
    );
    console.log(
      `# HTTP statuses: ${[...statuses]
        .sort()
        .map(([k, v]) => `${k}×${v}`)
        .join(" ")}`,
    );
  },
  { timeout: PROPERTY_TEST_TIMEOUT },
);

// --- the CLI ----------------------------------------------------------------------------------

const cliValue = fc.oneof(
  hostileString.filter((s) => !s.startsWith("-")),
  fc.constantFrom("api", "1", "0", "-5", "1e3", "5m", "NaN", "Infinity", "", "queued", "{}"),
);

/** Each command with its own positionals and options, so most lines get past the parser. */
const COMMAND_LINES: Record<string, { positionals: number; options: string[] }> = {
  send: {
    positionals: 2,
    options: ["priority", "delay", "key", "attributes", "max-attempts", "timeout", "json"],
  },
  "create-queue": {
    positionals: 1,
    options: [
      "max-attempts",
      "lease-time",
      "max-size",
      "dead-letter",
      "retention",
      "backoff-delay",
      "backoff-factor",
      "backoff-max",
    ],
  },
  jobs: { positionals: 0, options: ["queue", "state", "limit", "cursor", "json"] },
  job: { positionals: 1, options: ["json"] },
  cancel: { positionals: 1, options: [] },
  retry: { positionals: 1, options: [] },
  stats: { positionals: 0, options: ["queue", "json"] },
  queues: { positionals: 0, options: ["json"] },
};

const cliLine = fc
  .constantFrom(...Object.keys(COMMAND_LINES))
  .chain((command) => {
    const { positionals, options } = COMMAND_LINES[command]!;
    const payload = fc.oneof(cleanValue, hostileValue).map(safeStringify);
    return fc.tuple(
      fc.constant(command),
      command === "send"
        ? fc.tuple(fc.oneof(fc.constant("api"), cliValue), fc.oneof(payload, cliValue))
        : fc.array(cliValue, { minLength: positionals, maxLength: positionals }),
      fc.array(fc.tuple(fc.constantFrom(...options, ...options, "nope"), cliValue), {
        maxLength: 2,
      }),
      fc.nat({ max: 9 }).map((n) => n === 0), // now and then, an extra positional
    );
  })
  .map(([command, positionals, flags, extra]) => {
    const argv = [command, ...positionals];
    for (const [flag, value] of flags) {
      argv.push(...(flag === "json" ? ["--json"] : [`--${flag}`, value]));
    }
    if (extra) argv.push("extra");
    return argv;
  });

dbTest(
  "the CLI exits 0, 1 or 2 on hostile command lines, says why in one line, and writes nothing when it fails",
  async ({ connect, admin, schema, url }) => {
    const client: Client = await connect();
    await client.createQueue("api");
    const env = { DATABASE_URL: url, PGWAKE_SCHEMA: schema };
    const codes = [0, 0, 0];
    await checkProperty(
      fc.asyncProperty(cliLine, async (argv) => {
        const out: string[] = [];
        const err: string[] = [];
        const before = await fingerprint(admin, schema);
        const ended = await capture(
          run(argv, { stdout: (t) => out.push(t), stderr: (t) => err.push(t), env }),
        );
        const what = `pgwake ${argv.map((a) => show(a)).join(" ")}`;
        assert.ok(ended.ok, `${what} threw ${String(!ended.ok && ended.error)}`);
        const code = ended.value as number;
        assert.ok([0, 1, 2].includes(code), `${what}: exit code ${code}`);
        codes[code]!++;
        if (code !== 0) {
          assert.equal(err.length, 1, `${what}: one line on stderr, got ${show(err)}`);
          assert.match(err[0]!, /^pgwake: \S/, what);
          assert.doesNotMatch(err[0]!, /\n|\s{2,}at /, `${what}: no stack`);
          assert.equal(
            await fingerprint(admin, schema),
            before,
            `${what}: a failed command writes nothing`,
          );
        } else if (argv[0] === "send" && argv.length >= 3) {
          const id = out[0]!.trim();
          const job = await client.job(
            /^\{/.test(id) ? (JSON.parse(out.join("\n")) as { id: string }).id : id,
          );
          assert.deepEqual(job?.payload, JSON.parse(argv[2]!), what);
        }
      }),
      fcParameters(60, 25),
    );
    console.log(`# CLI exit codes: 0×${codes[0]} 1×${codes[1]} 2×${codes[2]}`);
  },
  { timeout: PROPERTY_TEST_TIMEOUT },
);

// --- SQL's send() -----------------------------------------------------------------------------

/** SQL options: the client's, as JSON, plus values only JSON text can carry. */
const sqlOptions = fc.oneof(
  fc
    .record(
      {
        priority,
        key: dedupKey,
        attributes,
        maxAttempts,
        delay,
      },
      { requiredKeys: [] },
    )
    .map((tagged) =>
      safeStringify(
        Object.fromEntries(Object.entries(tagged).map(([k, t]) => [k, (t as Tagged).value])),
      ),
    )
    // Only text the caller's cast to jsonb accepts (no BigInt, NUL or lone surrogate): what
    // reaches send() at all.
    .filter((text) => text !== "10n" && storable(JSON.parse(text))),
  fc.constantFrom(
    "{}",
    "[]",
    '"str"',
    "null",
    '{"priority": 1e2}',
    '{"priority": 2.5}',
    '{"runAt": "2030-01-01T00:00:00Z"}',
    '{"runAt": "not a time"}',
    '{"runAt": 5}',
    '{"delay": "5 minutes"}',
    '{"delay": "5 parsecs"}',
    '{"delay": -1}',
    '{"after": ["not-a-uuid"]}',
    '{"after": ["00000000-0000-7000-8000-000000000000"]}',
    '{"after": "x"}',
    '{"key": ""}',
    '{"attributes": {"a": [1]}}',
    '{"traceContext": {"traceparent": 1}}',
    '{"priority": 1, "nope": 2}',
    `{"key": "${"k".repeat(513)}"}`,
    `{"attributes": {"a": "${"v".repeat(1024)}"}}`,
    `{"attributes": {"a": "${"v".repeat(1025)}"}}`,
    // Values only JSON text carries, and values PostgreSQL itself used to refuse (class 22).
    '{"priority": 1.0}',
    '{"maxAttempts": 2.0}',
    '{"delay": 1e300}',
    '{"delay": "1000000 years"}',
    '{"delay": 1, "runAt": "2030-01-01T00:00:00Z"}',
    '{"runAt": "infinity"}',
    '{"runAt": "-infinity"}',
    '{"attributes": {"a": 1e400}}',
    '{"after": ["00000000-0000-7000-8000-000000000000", "00000000-0000-7000-8000-000000000000"]}',
  ),
);

/**
 * What the client decides for the same input (src/options.ts): "sent", "PW001" (its
 * ValidationError) or "PW002" (only the queue "sql" exists). Undefined where SQL's options mean
 * something else by design: a delay string is a PostgreSQL interval, runAt a timestamp string,
 * traceContext is SQL's own, and `after` ids are looked up.
 */
function clientVerdict(queue: string, payloadText: string, optionsText: string) {
  const options = JSON.parse(optionsText) as unknown;
  if (
    isPlainObject(options) &&
    (typeof options.delay === "string" ||
      ["runAt", "traceContext", "after"].some((k) => k in options))
  ) {
    return undefined;
  }
  try {
    checkQueueName(queue);
    normaliseSend(JSON.parse(payloadText), options, DEFAULT_MAX_PAYLOAD_BYTES);
  } catch (error) {
    if (error instanceof ValidationError) return "PW001";
    throw error;
  }
  return queue === "sql" ? "sent" : "PW002";
}

dbTest(
  "SQL's send() stores jobs unchanged or raises pgwake's own SQLSTATEs, with nothing written",
  async ({ connect, admin, schema }) => {
    await connect().then((client) => client.createQueue("sql"));
    const send = `select ${table(schema, "send")}($1::text, $2::text::jsonb, $3::text::jsonb) as id`;
    const outcomes = new Map<string, number>();
    await checkProperty(
      fc.asyncProperty(
        // Text PostgreSQL accepts at all (no NUL, no lone surrogate): what reaches send().
        fc.oneof(queueName.filter(storableString), fc.constant("sql"), fc.constant("sql")),
        cleanValue.map((v) => JSON.stringify(v)),
        sqlOptions,
        async (queue, payloadText, optionsText) => {
          const what = `send(${show(queue)}, ${payloadText}, ${optionsText})`;
          const before = await countRows(admin, schema, "_jobs");
          const outcome = await capture(admin.unsafe(send, [queue, payloadText, optionsText]));
          const label = outcome.ok ? "sent" : String((outcome.error as { code?: string }).code);
          outcomes.set(label, (outcomes.get(label) ?? 0) + 1);
          const expected = clientVerdict(queue, payloadText, optionsText);
          if (expected !== undefined) {
            assert.equal(
              label,
              expected,
              `${what} as the client decides${outcome.ok ? "" : `: ${String(outcome.error)}`}`,
            );
          }
          if (!outcome.ok) {
            const code = (outcome.error as { code?: string }).code ?? "";
            assert.match(code, /^PW00[1-5]$/, `${what}: ${String(outcome.error)}`);
            assert.equal(await countRows(admin, schema, "_jobs"), before, `${what} wrote nothing`);
            return;
          }
          const [row] = outcome.value as Array<{ id: string }>;
          const [job] = await admin.unsafe(
            `select payload::text, priority from ${table(schema, "_jobs")} where id = $1`,
            [row!.id],
          );
          assert.deepEqual(JSON.parse(job!.payload as string), JSON.parse(payloadText), what);
          const options = JSON.parse(optionsText) as { priority?: number; key?: string };
          if (typeof options.priority === "number")
            assert.equal(job!.priority, options.priority, what);
          // Free the key for later cases.
          if (options.key !== undefined) {
            await admin.unsafe(
              `update ${table(schema, "_jobs")} set state = 'cancelled' where id = $1`,
              [row!.id],
            );
          }
        },
      ),
      fcParameters(200, 25),
    );
    console.log(
      `# SQL send(): ${[...outcomes]
        .sort()
        .map(([k, v]) => `${k}×${v}`)
        .join(" ")}`,
    );
  },
  { timeout: PROPERTY_TEST_TIMEOUT },
);

dbTest(
  "SQL's send() refuses what the client refuses with PW001 (runAt infinity on every PostgreSQL), writing nothing",
  async ({ connect, admin, schema }) => {
    // Before migration 0006 these failed as PostgreSQL's own data exceptions (22003, 22008), and
    // an infinite runAt failed on PostgreSQL 15 but was stored by 18 as a job that never runs.
    // `{"priority": 1.0}` (22P02 then) is now the integer 1, as the client reads it: the
    // property above and test/integration/sql.send.test.ts check that.
    await connect().then((client) => client.createQueue("sql"));
    const send = `select ${table(schema, "send")}('sql', $2::text::jsonb, $1::text::jsonb)`;
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);
    for (const [options, message, payload = "1"] of [
      ['{"delay": 1e300}', /delay to be a duration of at most 100 years, got 1e\+300 \(number\)/],
      ['{"delay": 1e20}', /delay to be a duration of at most 100 years/],
      ['{"delay": "1000000 years"}', /delay to be a duration of at most 100 years/],
      ['{"runAt": "infinity"}', /runAt to be a timestamp in the years 1 to 9999/],
      ['{"runAt": "-infinity"}', /runAt to be a timestamp in the years 1 to 9999/],
      ['{"runAt": "10000-01-01T00:00:00Z"}', /runAt to be a timestamp in the years 1 to 9999/],
      ['{"runAt": null}', /runAt to be a timestamp such as/],
      ['{"priority": 2147483648}', /priority to be an integer from -2147483648 up/],
      ['{"priority": 1e300}', /priority to be an integer/],
      ['{"maxAttempts": 2.5}', /maxAttempts to be an integer from 1 up/],
      [
        '{"delay": 1, "runAt": "2030-01-01T00:00:00Z"}',
        /give send options.delay or options.runAt, not both/,
      ],
      ['{"attributes": {"a": 1e400}}', /attributes.a to be a string, a finite number/],
      ["{}", /payload holds 1e\+400 \(number\), beyond what JavaScript can hold/, '{"a": [1e400]}'],
      // Lengths and counts the class-22 errors never covered, as the client counts them.
      [
        JSON.stringify({ attributes: Object.fromEntries(range(65).map((i) => [`a${i}`, i])) }),
        /attributes has 65 keys, more than 64: keep attributes for routing and filtering/,
      ],
      [JSON.stringify({ attributes: { ["k".repeat(129)]: 1 } }), /attributes key to be 1-128/],
      [
        JSON.stringify({ attributes: { a: "\u{1F600}".repeat(513) } }),
        /attributes.a is a string of 1026 characters, more than 1024: .*put longer data in the payload/,
      ],
      // 257 characters, 514 UTF-16 units: JavaScript's length, not PostgreSQL's.
      [JSON.stringify({ key: "\u{1F600}".repeat(257) }), /key to be a string of 1-512 characters/],
      [
        JSON.stringify({ after: range(1001).map(() => "00000000-0000-7000-8000-000000000000") }),
        /after to be at most 1000 job ids, got an array of 1001/,
      ],
    ] as const) {
      const outcome = await capture(admin.unsafe(send, [options, payload]));
      assert.ok(!outcome.ok, options);
      const error = outcome.error as { code?: string; message?: string };
      assert.equal(error.code, "PW001", `${options}: ${error.message}`);
      assert.match(error.message ?? "", message, options);
      assert.equal(await countRows(admin, schema, "_jobs"), 0, `${options} wrote nothing`);
    }
  },
);
