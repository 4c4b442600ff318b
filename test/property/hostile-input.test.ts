/**
 * Random hostile inputs against the library's entry points. The property, everywhere: a call
 * either rejects with a PgwakeError (a ValidationError when the input was bad) and nothing was
 * written, or it succeeds and reading back gives the exact value (deep equal, string code units
 * included). Where the contract fixes the verdict (README, "Sending"), it is checked too.
 *
 * The HTTP API, the CLI and SQL's send() have their own file (hostile-surfaces.test.ts).
 * PGWAKE_FC_RUNS raises the number of cases; a failure prints its seed (PGWAKE_FC_SEED).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import type { Sql } from "postgres";
import { ValidationError, type Client, type Json, type Queue } from "../../src/index.js";
import { dbTest } from "../helpers/db.js";
import {
  attributes,
  cleanValue,
  dedupKey,
  delay,
  hostileString,
  hostileValue,
  maxAttempts,
  priority,
  QUEUE_NAME,
  queueName,
  show,
  storable,
  verdict,
  type Tagged,
} from "./arbitraries.js";
import {
  assertPgwakeError,
  capture,
  checkProperty,
  PROPERTY_TEST_TIMEOUT,
  countRows,
  fcParameters,
  jsonRoundTrip,
} from "./support.js";

/** Writes and their outcome: nothing written on failure, the exact value on success. */
async function expectStoredOrRefused(
  client: Client,
  count: () => Promise<number>,
  write: () => Promise<string[]>,
  expected: unknown[],
  mustStore: boolean | undefined,
  what: string,
): Promise<void> {
  const before = await count();
  const outcome = await capture(write());
  const after = await count();
  if (!outcome.ok) {
    assertPgwakeError(outcome.error, what);
    assert.equal(after, before, `${what} was refused and wrote nothing`);
    if (mustStore === true) assert.fail(`${what} must be stored, got ${String(outcome.error)}`);
    return;
  }
  if (mustStore === false) assert.fail(`${what} must be refused`);
  const ids = outcome.value as string[];
  assert.equal(after, before + ids.length, `${what} wrote one row per job`);
  for (const [index, id] of ids.entries()) {
    const job = await client.job(id);
    assert.deepEqual(job?.payload, jsonRoundTrip(expected[index]), `${what} reads back the same`);
  }
}

dbTest(
  "payloads are stored unchanged or refused with nothing written: send, sendMany, tx",
  async ({ connect, admin, schema, pool }) => {
    const client = await connect();
    const q = await client.createQueue("payloads");
    const { sql } = pool();
    const count = () => countRows(admin, schema, "_jobs");
    await checkProperty(
      fc.asyncProperty(
        fc.oneof(hostileValue, cleanValue),
        fc.array(cleanValue, { maxLength: 3 }),
        fc.constantFrom("send", "sendMany", "tx"),
        async (payload, others, entry) => {
          if (entry === "send") {
            await expectStoredOrRefused(
              client,
              count,
              async () => [await q.send(payload as Json)],
              [payload],
              storable(payload),
              `send(${show(payload)})`,
            );
          } else if (entry === "sendMany") {
            // One bad item anywhere: the whole batch is refused.
            const items = [...others, payload];
            await expectStoredOrRefused(
              client,
              count,
              async () => q.sendMany(items.map((p) => ({ payload: p as Json }))),
              items,
              items.every((p) => storable(p)),
              `sendMany([..., ${show(payload)}])`,
            );
          } else {
            await expectStoredOrRefused(
              client,
              count,
              () => sendInTransaction(sql, q, payload),
              [payload],
              storable(payload),
              `send(${show(payload)}, { tx })`,
            );
          }
        },
      ),
      fcParameters(150, 14),
    );
  },
  { timeout: PROPERTY_TEST_TIMEOUT },
);

/**
 * A send inside the caller's transaction. A refused send must leave the transaction usable (no
 * statement failed in it), and the caller decides: here it commits anyway, and nothing is there.
 */
async function sendInTransaction(sql: Sql, q: Queue, payload: unknown): Promise<string[]> {
  let refusal: unknown;
  const ids = await sql.begin(async (tx) => {
    const sent = await capture(q.send(payload as Json, { tx: tx as never }));
    const [alive] = await tx`select 1 as one`; // still usable after a refused send
    assert.equal(alive!.one, 1);
    if (!sent.ok) refusal = sent.error;
    return sent.ok ? [sent.value as string] : [];
  });
  if (refusal !== undefined) throw refusal;
  return ids;
}

dbTest(
  "send options: odd priorities, delays, keys, attributes and maxAttempts are stored as given or refused",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue("options");
    const count = () => countRows(admin, schema, "_jobs");
    await checkProperty(
      fc.asyncProperty(
        fc.record(
          { priority, delay, key: dedupKey, attributes, maxAttempts },
          { requiredKeys: [] },
        ),
        async (tagged) => {
          const options = Object.fromEntries(
            Object.entries(tagged).map(([name, t]) => [name, t.value]),
          );
          const what = `send(1, ${show(options)})`;
          const before = await count();
          const outcome = await capture(q.send(1, options as never));
          const mustStore = verdict(Object.values(tagged) as Tagged[]);
          if (!outcome.ok) {
            assertPgwakeError(outcome.error, what);
            assert.ok(
              outcome.error instanceof ValidationError,
              `${what}: ${outcome.error.message}`,
            );
            assert.equal(await count(), before, `${what} wrote nothing`);
            assert.notEqual(mustStore, true, `${what} must be stored: ${outcome.error.message}`);
            return;
          }
          assert.notEqual(mustStore, false, `${what} must be refused`);
          const id = outcome.value as string;
          const job = (await client.job(id))!;
          if (options.priority !== undefined) assert.ok(job.priority === options.priority, what);
          if (options.maxAttempts !== undefined) assert.equal(job.maxAttempts, options.maxAttempts);
          if (options.attributes !== undefined) {
            assert.deepEqual(job.attributes, jsonRoundTrip(options.attributes), what);
          }
          if (options.key !== undefined) {
            // The key holds: the same key again gives the same job.
            assert.equal(await q.send(2, { key: options.key as string }), id, what);
            await q.cancel(id); // frees the key for later cases
          }
        },
      ),
      fcParameters(150, 14),
    );
  },
  { timeout: PROPERTY_TEST_TIMEOUT },
);

dbTest(
  "createQueue with odd names and option values: created as given, or refused with nothing created",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const count = () => countRows(admin, schema, "_queues");
    await checkProperty(
      fc.asyncProperty(
        queueName,
        fc.record(
          {
            maxAttempts,
            // Leases: 100ms to a day.
            leaseTime: fc.oneof(
              fc.constantFrom(100, "100ms", "30s", "5m", "1d").map(validTag),
              fc
                .constantFrom<unknown>(0, 1, 50, "99ms", "25h", "1 year", -1, NaN, Infinity, "abc")
                .map(refusedTag),
            ),
            retention: delay,
            maxSize: maxAttempts,
            deadLetter: queueName.map((value) => ({ value, valid: QUEUE_NAME.test(value) })),
            backoff: fc
              .constantFrom<unknown>(1, 1.5, 100, 0.5, 101, NaN, Infinity, "2")
              .map((factor) => ({
                value: { factor },
                valid: typeof factor === "number" && factor >= 1 && factor <= 100,
              })),
          },
          { requiredKeys: [] },
        ),
        async (name, tagged) => {
          const options = Object.fromEntries(
            Object.entries(tagged).map(([option, t]) => [option, t.value]),
          );
          const what = `createQueue(${show(name)}, ${show(options)})`;
          const before = await count();
          const outcome = await capture(client.createQueue(name, options as never));
          const lease = tagged.leaseTime?.value;
          const mustCreate =
            QUEUE_NAME.test(name) && options.deadLetter !== name
              ? verdict(Object.values(tagged) as Tagged[])
              : false;
          if (!outcome.ok) {
            assertPgwakeError(outcome.error, what);
            assert.equal(await count(), before, `${what} created nothing`);
            assert.notEqual(mustCreate, true, `${what} must work: ${outcome.error.message}`);
            return;
          }
          assert.notEqual(mustCreate, false, `${what} must be refused`);
          const info = await client.queueInfo(name);
          assert.equal(info?.name, name);
          assert.equal(info?.maxAttempts, options.maxAttempts ?? 5, what);
          if (typeof lease === "number") assert.equal(info?.leaseMs, lease, what);
          await client.deleteQueue(name).catch(() => undefined);
        },
      ),
      fcParameters(150, 14),
    );
  },
  { timeout: PROPERTY_TEST_TIMEOUT },
);

function refusedTag(value: unknown): Tagged {
  return { value, valid: false };
}

function validTag(value: unknown): Tagged {
  return { value, valid: true };
}

/** What `@>` on flat attributes means: every pair of the filter is in the job's attributes. */
function contains(attrs: Record<string, unknown>, filter: Record<string, unknown>): boolean {
  return Object.entries(filter).every(
    ([k, v]) => Object.hasOwn(attrs, k) && JSON.stringify(attrs[k]) === JSON.stringify(v),
  );
}

dbTest(
  "filters with odd values cancel exactly the jobs whose attributes contain them, or are refused",
  async ({ connect }) => {
    const client = await connect();
    let n = 0;
    const pool = ["eu", "'; drop table x; --", "\u2028", "𝕏", 1, 1.5, true, null];
    await checkProperty(
      fc.asyncProperty(
        fc.array(
          fc.dictionary(fc.constantFrom("region", "tier", "__proto__"), fc.constantFrom(...pool)),
          { minLength: 1, maxLength: 5 },
        ),
        fc.oneof(
          attributes,
          fc
            .dictionary(fc.constantFrom("region", "tier", "__proto__"), fc.constantFrom(...pool), {
              minKeys: 1,
            })
            .map((value) => ({ value, valid: true }) as Tagged),
        ),
        async (jobAttributes, filter) => {
          const q = await client.createQueue(`filters-${++n}`);
          const ids = await q.sendMany(
            jobAttributes.map((a) => ({ payload: 1, options: { attributes: a } })),
          );
          const what = `cancel({ filter: ${show(filter.value)} })`;
          const outcome = await capture(q.cancel({ filter: filter.value as never }));
          const stats = await q.stats();
          if (!outcome.ok) {
            assertPgwakeError(outcome.error, what);
            assert.equal(stats.cancelled, 0, `${what} cancelled nothing`);
            const empty = Object.keys(filter.value as object).length === 0;
            assert.ok(filter.valid !== true || empty, `${what} must work`);
            return;
          }
          assert.notEqual(filter.valid, false, `${what} must be refused`);
          const expected = ids.filter((_id, i) =>
            contains(
              jsonRoundTrip(jobAttributes[i]) as Record<string, unknown>,
              jsonRoundTrip(filter.value) as Record<string, unknown>,
            ),
          );
          assert.equal(outcome.value, expected.length, what);
          for (const id of ids) {
            assert.equal((await q.get(id))?.state, expected.includes(id) ? "cancelled" : "queued");
          }
        },
      ),
      fcParameters(60, 14),
    );
  },
  { timeout: PROPERTY_TEST_TIMEOUT },
);

dbTest(
  "receive filters are checked when the loop starts; a bad one claims nothing",
  async ({ connect }) => {
    const client = await connect();
    // Each matching claim is let go (an attempt counted): attempts must not run out.
    const q = await client.createQueue("receive-filters", { maxAttempts: 2 ** 31 - 1 });
    const id = await q.send(1, { attributes: { region: "eu" } });
    await checkProperty(
      fc.asyncProperty(attributes, async (filter) => {
        const loop = q.receive({ filter: filter.value as never, signal: AbortSignal.timeout(50) });
        const outcome = await capture(loop.next());
        await loop.return(undefined);
        if (!outcome.ok) {
          assert.ok(outcome.error instanceof ValidationError, String(outcome.error));
          assert.notEqual(filter.valid, true, `filter ${show(filter.value)} must be accepted`);
        } else {
          assert.notEqual(filter.valid, false, `filter ${show(filter.value)} must be refused`);
        }
        const job = await q.get(id);
        assert.ok(job?.state === "queued", "whatever happened, the job is back in the queue");
      }),
      fcParameters(60, 14),
    );
  },
  { timeout: PROPERTY_TEST_TIMEOUT },
);

dbTest(
  "ack results are stored unchanged or refused with the job still held; nack never throws on odd errors",
  async ({ connect }) => {
    const client = await connect();
    let n = 0;
    await checkProperty(
      fc.asyncProperty(
        fc.oneof(hostileValue, cleanValue),
        fc.oneof(hostileValue, hostileString, fc.constantFrom<unknown>(...oddErrors())),
        fc.boolean(),
        async (result, error, nackFirst) => {
          const q = await client.createQueue(`settle-${++n}`); // each case on its own
          const id = await q.send("work");
          const loop = q.receive();
          try {
            const job = (await loop.next()).value!;
            assert.equal(job.id, id);
            if (!nackFirst) {
              const acked = await capture(job.ack(result as Json));
              if (acked.ok) {
                assert.ok(storable(result ?? null), `ack(${show(result)}) must be refused`);
                assert.deepEqual((await q.get(id))?.result, jsonRoundTrip(result));
                return;
              }
              assert.ok(acked.error instanceof ValidationError, String(acked.error));
              assert.ok(!storable(result), `ack(${show(result)}) must work`);
              assert.equal((await q.get(id))?.state, "running", "a refused ack changes nothing");
            }
            // The job is still held: a nack with whatever a handler may throw fails the attempt.
            const nacked = await capture(job.nack(error, { delay: 0 }));
            assert.ok(nacked.ok, `nack(${show(error)}): ${String(!nacked.ok && nacked.error)}`);
            const info = await q.get(id);
            assert.equal(info?.state, "queued");
            assert.equal(typeof info?.lastError?.message, "string");
          } finally {
            await loop.return(undefined);
          }
        },
      ),
      fcParameters(100, 14),
    );
  },
  { timeout: PROPERTY_TEST_TIMEOUT },
);

/** Errors a handler may throw that resist being turned into text. */
function oddErrors(): unknown[] {
  const withBigInt = Object.assign(Object.create(null) as object, { n: 10n });
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  const throwing = new Proxy(
    {},
    {
      get(_target, property) {
        // fast-check may print it; everything else that reads it fails.
        if (property === fc.toStringMethod) return () => "a Proxy whose every read throws";
        throw new Error("trap");
      },
      getPrototypeOf() {
        throw new Error("trap");
      },
    },
  );
  return [
    withBigInt,
    cyclic,
    throwing,
    Object.assign(new Error("stack is a number"), { stack: 42 }),
    Object.assign(new Error("message is an object"), { message: { a: 1 } }),
    Object.assign(new Error("code with NUL"), { code: "E\u0000\ud800" }),
    Object.assign(new Error("x".repeat(100_000)), { name: "\ud800" }),
    Symbol("thrown"),
    10n,
    null,
    undefined,
    new AggregateError([new Error("a")], "many"),
  ];
}

dbTest(
  "schedules with odd names, timings, payloads and job options: stored as given or refused",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    await client.createQueue("scheduled");
    const count = () => countRows(admin, schema, "_schedules");
    await checkProperty(
      fc.asyncProperty(
        queueName,
        fc.oneof(
          fc.record({
            cron: fc.constantFrom(
              "0 3 * * *",
              "*/5 * * * * *",
              "61 * * * *",
              "'; drop",
              "",
              "* * * * * * * *",
            ),
          }),
          fc.record({
            cron: fc.constant("0 3 * * *"),
            timezone: fc.oneof(
              hostileString,
              fc.constantFrom("Europe/Paris", "UTC", "Mars/Olympus"),
            ),
          }),
          fc.record({
            every: fc.oneof(
              delay.map((d) => d.value),
              fc.constantFrom("1h", 999),
            ),
          }),
        ),
        fc.oneof(hostileValue, cleanValue),
        fc.record({ priority, key: dedupKey, attributes }, { requiredKeys: [] }),
        async (name, timing, payload, tagged) => {
          const options = Object.fromEntries(
            Object.entries(tagged).map(([option, t]) => [option, t.value]),
          );
          const what = `schedule(${show(name)}, ${show({ ...timing, payload, options })})`;
          const before = await count();
          const outcome = await capture(
            client.schedule(name, { queue: "scheduled", ...timing, payload, options } as never),
          );
          if (!outcome.ok) {
            assertPgwakeError(outcome.error, what);
            assert.ok(
              outcome.error instanceof ValidationError,
              `${what}: ${outcome.error.message}`,
            );
            assert.equal(await count(), before, `${what} stored nothing`);
            return;
          }
          assert.ok(QUEUE_NAME.test(name), `${what} must be refused (name)`);
          assert.ok(storable(payload ?? null), `${what} must be refused (payload)`);
          assert.notEqual(
            verdict(Object.values(tagged) as Tagged[]),
            false,
            `${what} must be refused`,
          );
          const stored = (await client.schedules()).find((s) => s.name === name);
          assert.deepEqual(stored?.payload, jsonRoundTrip(payload), what);
          await client.unschedule(name);
        },
      ),
      fcParameters(100, 14),
    );
  },
  { timeout: PROPERTY_TEST_TIMEOUT },
);
