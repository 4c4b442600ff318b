import assert from "node:assert/strict";
import { test } from "node:test";
import { ValidationError } from "../../src/index.js";
import {
  checkQueueName,
  normaliseConnect,
  normaliseQueueOptions,
  normaliseReceive,
  normaliseSend,
  normaliseSendMany,
  normaliseWork,
  QUEUE_DEFAULTS,
} from "../../src/options.js";

const MiB = 1024 * 1024;

function rejects(fn: () => unknown, field: RegExp, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ValidationError, `expected a ValidationError, got ${String(error)}`);
    assert.match(error.field, field);
    assert.match(error.message, message);
    assert.equal(error.code, "VALIDATION");
    return true;
  });
}

test("queue names: 1-128 letters, digits and _ - . :", () => {
  for (const name of ["a", "emails", "billing.invoices", "a:b-c_d", "x".repeat(128)])
    assert.equal(checkQueueName(name), name);
  for (const bad of [
    "",
    "x".repeat(129),
    "with space",
    "semi;colon",
    "quo'te",
    "ünicode",
    42,
    null,
    undefined,
  ]) {
    rejects(() => checkQueueName(bad), /queue name/, /1-128 characters of letters, digits/);
  }
});

test("durations accept milliseconds and ms strings, and refuse the rest", () => {
  assert.equal(normaliseSend(1, { delay: 1500 }, MiB).delayMs, 1500);
  assert.equal(normaliseSend(1, { delay: "5m" }, MiB).delayMs, 300_000);
  assert.equal(normaliseSend(1, { delay: 0 }, MiB).delayMs, 0);
  rejects(() => normaliseSend(1, { delay: -1 }, MiB), /options\.delay/, /got -1 \(number\)/);
  rejects(() => normaliseSend(1, { delay: "soon" }, MiB), /options\.delay/, /"soon" \(string\)/);
  rejects(() => normaliseSend(1, { delay: Number.NaN }, MiB), /options\.delay/, /duration/);
  rejects(() => normaliseSend(1, { delay: "-5s" }, MiB), /options\.delay/, /duration/);
});

test("send options: priority, maxAttempts, attributes, runAt", () => {
  const ok = normaliseSend(
    { a: 1 },
    { priority: -5, maxAttempts: 3, attributes: { region: "eu", n: 1, b: true, z: null } },
    MiB,
  );
  assert.equal(ok.priority, -5);
  assert.equal(ok.maxAttempts, 3);
  assert.deepEqual(ok.attributes, { region: "eu", n: 1, b: true, z: null });
  rejects(() => normaliseSend(1, { priority: 1.5 }, MiB), /priority/, /integer/);
  rejects(() => normaliseSend(1, { priority: "high" }, MiB), /priority/, /integer/);
  rejects(() => normaliseSend(1, { priority: 2 ** 31 }, MiB), /priority/, /integer/);
  rejects(() => normaliseSend(1, { maxAttempts: 0 }, MiB), /maxAttempts/, /integer from 1/);
  rejects(
    () => normaliseSend(1, { attributes: { nested: { a: 1 } } }, MiB),
    /attributes\.nested/,
    /flat/,
  );
  rejects(() => normaliseSend(1, { attributes: [1] }, MiB), /attributes/, /flat object/);
  rejects(() => normaliseSend(1, { runAt: new Date("nope") }, MiB), /runAt/, /valid Date/);
  rejects(() => normaliseSend(1, { runAt: new Date(), delay: 5 }, MiB), /delay/, /not both/);
});

test("attribute strings: 1,024 UTF-16 units pass, 1,025 are refused, in attributes and filters", () => {
  // Counted as JavaScript counts length: a character beyond U+FFFF is two units.
  for (const fits of ["x".repeat(1024), "\u{1F600}".repeat(512), `${"x".repeat(1023)}é`]) {
    assert.deepEqual(normaliseSend(1, { attributes: { a: fits } }, MiB).attributes, { a: fits });
    assert.deepEqual(normaliseReceive({ filter: { a: fits } }).filter, { a: fits });
  }
  for (const [over, length] of [
    ["x".repeat(1025), 1025],
    ["\u{1F600}".repeat(513), 1026],
  ] as const) {
    rejects(
      () => normaliseSend(1, { attributes: { ok: "short", region: over } }, MiB),
      /^send options\.attributes\.region$/,
      new RegExp(
        `^send options\\.attributes\\.region is a string of ${length} characters, more than 1024: .*put longer data in the payload`,
      ),
    );
    rejects(
      () =>
        normaliseSendMany(
          [{ payload: 1, options: { attributes: { region: over } } }],
          undefined,
          MiB,
        ),
      /attributes\.region/,
      /more than 1024/,
    );
    rejects(
      () => normaliseReceive({ filter: { region: over } }),
      /filter\.region/,
      /more than 1024/,
    );
  }
  // Numbers, booleans and nulls have no length to limit.
  assert.deepEqual(normaliseSend(1, { attributes: { n: 1e300 } }, MiB).attributes, { n: 1e300 });
});

test("unknown option names are refused with the list of known ones", () => {
  rejects(
    () => normaliseSend(1, { dealy: 5 }, MiB),
    /send options\.dealy/,
    /unknown option "dealy".*expected one of delay, runAt/,
  );
  rejects(() => normaliseQueueOptions("q", { maxAttempt: 5 }), /maxAttempt/, /unknown option/);
  rejects(
    () => normaliseQueueOptions("q", { backoff: { delays: 1 } }),
    /backoff\.delays/,
    /unknown option/,
  );
  rejects(() => normaliseReceive({ batchSize: 5 }), /batchSize/, /unknown option/);
  rejects(() => normaliseWork(() => 1, { concurency: 5 }), /concurency/, /unknown option/);
  rejects(
    () => normaliseConnect({ url: "postgres://x", shema: "a" } as never),
    /shema/,
    /unknown option/,
  );
});

test("values PostgreSQL could not store are refused before they can fail a shared statement", () => {
  rejects(() => normaliseSend(1, { delay: 1e17 }, MiB), /options\.delay/, /at most 100 years/);
  rejects(() => normaliseSend(1, { runAt: new Date(8.64e15) }, MiB), /runAt/, /years 1 to 9999/);
  rejects(
    () => normaliseSend(1, { runAt: new Date("-000100-01-01") }, MiB),
    /runAt/,
    /years 1 to 9999/,
  );
  rejects(() => normaliseQueueOptions("q", { leaseTime: "30d" }), /leaseTime/, /at most 1 day/);
  rejects(
    () => normaliseConnect({ url: "postgres://h", pollInterval: "2d" }, {}),
    /pollInterval/,
    /at most 1 day/,
  );
  assert.equal(
    normaliseSend(1, { runAt: new Date(0) }, MiB).runAt?.getTime(),
    0,
    "the past is fine",
  );
});

test("options of the whole sendMany call do not accept job options", () => {
  rejects(
    () => normaliseSendMany([], { priority: 1 }, MiB),
    /sendMany options\.priority/,
    /unknown option/,
  );
});

test("dedup keys, dependencies, bounds and filters", () => {
  const id = "0190a6f4-0000-7000-8000-000000000001";
  const job = normaliseSend(1, { key: "welcome:42", after: [id, id.toUpperCase()] }, MiB);
  assert.equal(job.key, "welcome:42");
  assert.deepEqual(job.after, [id], "ids are normalised and deduplicated");
  rejects(() => normaliseSend(1, { key: "" }, MiB), /options\.key/, /1-512 characters/);
  rejects(() => normaliseSend(1, { key: 42 }, MiB), /options\.key/, /1-512 characters/);
  rejects(() => normaliseSend(1, { key: "a\u0000" }, MiB), /options\.key/, /NUL/);
  rejects(() => normaliseSend(1, { after: id }, MiB), /options\.after/, /array of job ids/);
  rejects(() => normaliseSend(1, { after: ["nope"] }, MiB), /options\.after\[0\]/, /job id/);
  assert.equal(normaliseQueueOptions("q", { maxSize: 5 }).maxSize, 5);
  rejects(() => normaliseQueueOptions("q", { maxSize: 0 }), /maxSize/, /integer from 1/);
  assert.deepEqual(normaliseReceive({ filter: { region: "eu", n: 1 } }).filter, {
    region: "eu",
    n: 1,
  });
  rejects(() => normaliseReceive({ filter: { nested: {} } }), /filter\.nested/, /flat/);
  rejects(() => normaliseWork(() => 1, { filter: "eu" }), /work options\.filter/, /flat object/);
});

test("queue options: defaults, and each bad value named", () => {
  assert.deepEqual(normaliseQueueOptions("q", undefined), { name: "q", ...QUEUE_DEFAULTS });
  const o = normaliseQueueOptions("q", {
    maxAttempts: 3,
    backoff: { delay: "2s", factor: 3, max: "1m" },
    leaseTime: "10s",
    deadLetter: "q-dead",
  });
  assert.deepEqual(o, {
    name: "q",
    ...QUEUE_DEFAULTS,
    maxAttempts: 3,
    backoffDelayMs: 2000,
    backoffFactor: 3,
    backoffMaxMs: 60_000,
    leaseMs: 10_000,
    deadLetter: "q-dead",
  });
  rejects(() => normaliseQueueOptions("q", { maxAttempts: 0 }), /maxAttempts/, /from 1/);
  rejects(() => normaliseQueueOptions("q", { backoff: { factor: 0.5 } }), /factor/, /1 to 100/);
  rejects(() => normaliseQueueOptions("q", { leaseTime: 10 }), /leaseTime/, /at least 100ms/);
  rejects(
    () => normaliseQueueOptions("q", { deadLetter: "q" }),
    /deadLetter/,
    /its own dead-letter/,
  );
  rejects(
    () => normaliseQueueOptions("q", { deadLetter: "bad name" }),
    /deadLetter/,
    /letters, digits/,
  );
});

test("receive and work options", () => {
  assert.deepEqual(normaliseReceive(undefined), { batch: 1, signal: undefined, filter: null });
  assert.deepEqual(
    normaliseWork(() => 1, undefined),
    { concurrency: 1, batch: 1, filter: null },
  );
  rejects(() => normaliseReceive({ batch: 0 }), /batch/, /1 to 1000/);
  rejects(() => normaliseReceive({ signal: "stop" }), /signal/, /AbortSignal/);
  rejects(() => normaliseWork("handler", {}), /work handler/, /function/);
  rejects(() => normaliseWork(() => 1, { concurrency: 0 }), /concurrency/, /1 to 10000/);
});

test("connect options: url from DATABASE_URL, schema from PGWAKE_SCHEMA", () => {
  const s = normaliseConnect(undefined, { DATABASE_URL: "postgres://h/db", PGWAKE_SCHEMA: "jobs" });
  assert.equal(s.url, "postgres://h/db");
  assert.equal(s.schema, "jobs");
  assert.equal(s.pollMs, 30_000);
  assert.equal(normaliseConnect({ url: "postgres://h/db", pollInterval: false }, {}).pollMs, null);
  rejects(() => normaliseConnect(undefined, {}), /url/, /no database given.*DATABASE_URL/);
  rejects(
    () => normaliseConnect({ url: "postgres://h", schema: "a$$b" }, {}),
    /schema/,
    /without \$/,
  );
  rejects(() => normaliseConnect("mysql://h/db", {}), /url/, /postgres:\/\//);
  rejects(
    () => normaliseConnect({ url: "postgres://h", schema: "jobs\ud800" }, {}),
    /schema/,
    /63/,
  );
  rejects(
    () => normaliseConnect({ url: "postgres://h", schema: "x".repeat(60) }, {}),
    /schema/,
    /63/,
  );
  rejects(
    () => normaliseConnect({ url: "postgres://h", pollInterval: 10 }, {}),
    /pollInterval/,
    /at least 1s/,
  );
});

test("connect options: listenUrl, and poll mode with listenUrl: false", () => {
  const pooled = normaliseConnect(
    { url: "postgres://bouncer:6432/db", listenUrl: "postgresql://direct:5432/db" },
    {},
  );
  assert.equal(pooled.listenUrl, "postgresql://direct:5432/db");
  assert.equal(pooled.pollMode, false);
  assert.equal(pooled.pollMs, 30_000, "a listener keeps the slow safety poll");
  const usual = normaliseConnect({ url: "postgres://h/db" }, {});
  assert.equal(usual.listenUrl, undefined, "by default the listener follows the pool");
  assert.equal(usual.pollMode, false);
  rejects(
    () => normaliseConnect({ url: "postgres://h/db", listenUrl: "direct:5432" }, {}),
    /listenUrl/,
    /postgres:\/\/ or postgresql:\/\/ URL, or false \(poll mode\), got "direct:5432"/,
  );
  rejects(
    () => normaliseConnect({ url: "postgres://h/db", listenUrl: true as never }, {}),
    /listenUrl/,
    /false/,
  );

  const polling = normaliseConnect({ url: "postgres://h/db", listenUrl: false }, {});
  assert.equal(polling.pollMode, true);
  assert.equal(polling.listenUrl, undefined);
  assert.equal(polling.pollMs, 1000, "poll mode polls every second by default");
  const fast = normaliseConnect({ url: "postgres://h/db", listenUrl: false, pollInterval: 50 }, {});
  assert.equal(fast.pollMs, 50, "poll mode may poll faster than the safety net's 1s");
  rejects(
    () => normaliseConnect({ url: "postgres://h/db", listenUrl: false, pollInterval: "10ms" }, {}),
    /pollInterval/,
    /at least 50ms in poll mode/,
  );
  rejects(
    () => normaliseConnect({ url: "postgres://h/db", listenUrl: false, pollInterval: false }, {}),
    /pollInterval/,
    /nothing notifies/,
  );
  rejects(
    () => normaliseConnect({ url: "postgres://h/db", listenUrl: false, pollInterval: "2h" }, {}),
    /pollInterval/,
    /at most 1 hour/,
  );
  rejects(
    () => normaliseConnect({ url: "postgres://h/db", pollInterval: "100ms" }, {}),
    /pollInterval/,
    /at least 1s, or false.*poll mode: listenUrl: false/,
  );
});

test("sendMany: per-call options belong to the call, not to items", () => {
  const { jobs } = normaliseSendMany(
    [{ payload: 1 }, { payload: 2, options: { priority: 5 } }],
    undefined,
    MiB,
  );
  assert.equal(jobs[1]?.priority, 5);
  rejects(() => normaliseSendMany("nope", undefined, MiB), /sendMany items/, /array/);
  rejects(
    () => normaliseSendMany([{ options: {} }], undefined, MiB),
    /items\[0\]\.payload/,
    /no payload/,
  );
  rejects(
    () => normaliseSendMany([{ payload: 1, options: { timeout: 5 } }], undefined, MiB),
    /timeout/,
    /whole sendMany call/,
  );
  rejects(
    () => normaliseSendMany([{ payload: 1, extra: 1 }], undefined, MiB),
    /extra/,
    /unknown option/,
  );
});

test("sendMany items of only a payload take the short way to the same answer, and errors name the item", () => {
  const plain = normaliseSendMany(
    [{ payload: { a: 1 } }, { payload: 2, options: undefined }],
    undefined,
    MiB,
  );
  const general = normaliseSend({ a: 1 }, {}, MiB, "sendMany items[0]");
  assert.deepEqual(plain.jobs[0], general);
  // One shape for both ways: the same keys in the same order.
  assert.deepEqual(Object.keys(plain.jobs[1]!), Object.keys(general));
  assert.equal(plain.jobs[1]!.payloadText, "2");
  const withOptions = normaliseSendMany([{ payload: 1, options: { priority: 3 } }], undefined, MiB);
  assert.equal(withOptions.jobs[0]!.priority, 3);
  rejects(
    () => normaliseSendMany([{ payload: 1 }, { payload: () => 1 }], undefined, MiB),
    /^sendMany items\[1\]\.payload$/,
    /JSON/,
  );
  rejects(
    () => normaliseSendMany([{ payload: 1, extra: true }], undefined, MiB),
    /sendMany items\[0\]\.extra/,
    /unknown option/,
  );
  rejects(() => normaliseSendMany([{}], undefined, MiB), /items\[0\]\.payload/, /no payload/);
  // Options the general way would read, though a for-in loop does not list them, are not missed.
  const hidden = Object.defineProperty({ payload: 1 }, "options", { get: () => ({ priority: 7 }) });
  assert.equal(normaliseSendMany([hidden], undefined, MiB).jobs[0]!.priority, 7);
  rejects(
    () => normaliseSendMany([{ payload: 1, options: { tx: 1 } }], undefined, MiB),
    /items\[0\]\.options\.tx/,
    /whole sendMany call/,
  );
});
