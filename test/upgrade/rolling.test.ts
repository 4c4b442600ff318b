/**
 * Rolling upgrades: replicas of the last release (0.1.0, unpacked from
 * test/fixtures/releases/pgwake-0.1.0.tgz) keep working while the current code migrates the
 * schema and joins them, on the same queues, and can restart or connect afresh during the
 * rollout as long as the newer migrations are declared compatible with them.
 *
 * Both releases run in this process, each as its own module, with their own clients: a replica is
 * a client. Every job is counted: none lost, none run twice.
 */
import assert from "node:assert/strict";
import { after } from "node:test";
import type { Client, Job, Queue, SentJob } from "../../src/index.js";
import { SchemaTooNewError } from "../../src/index.js";
import { latestVersion, migrate, minClientVersion } from "../../src/db/migrate.js";
import { migrationFiles, type MigrationFile } from "../../src/db/sql-files.js";
import { dbTest, signal, within, type DbContext } from "../helpers/db.js";
import { loadRelease } from "./release.js";

/** The release under test, and the newest migration it ships. */
const release = await loadRelease("0.1.0");
const RELEASE_VERSION = 5;
after(() => release.remove());

type Side = "old" | "new";
type Payload = { by: Side; tag: string; i?: number };
type Result = { by: Side; attempt: number; payload: Payload };

/** Every job sent and every run of a handler, by which release did it. */
class Ledger {
  readonly sent = new Map<string, { by: Side; queue: string; afterMigration: boolean }>();
  readonly runs = new Map<string, Side[]>();
  readonly completions: Array<Promise<{ id: string; result: Result }>> = [];
  migrated = false;

  ran(id: string, by: Side): void {
    this.runs.set(id, [...(this.runs.get(id) ?? []), by]);
  }

  handler(by: Side) {
    return async (job: Job<Payload>): Promise<Result> => {
      this.ran(job.id, by);
      return { by, attempt: job.attempt, payload: job.payload };
    };
  }

  /** Sends `n` jobs at once from one side and remembers them and their `completed`. */
  async send(queue: Queue<Payload, Result>, by: Side, n: number, tag: string): Promise<string[]> {
    const handles = Array.from({ length: n }, (_, i) => queue.send({ by, tag, i }));
    return Promise.all(handles.map((handle) => this.track(handle, queue.name, by)));
  }

  async track(handle: SentJob<Result>, queue: string, by: Side): Promise<string> {
    const id = await handle;
    this.sent.set(id, { by, queue, afterMigration: this.migrated });
    const completion = handle.completed.then((result) => ({ id, result }));
    // Awaited all together at the end; if the test fails before, closing rejects the rest.
    completion.catch(() => undefined);
    this.completions.push(completion);
    return id;
  }

  sentTo(queue: string, by?: Side): string[] {
    return [...this.sent]
      .filter(([, sent]) => sent.queue === queue && (by === undefined || sent.by === by))
      .map(([id]) => id);
  }
}

async function connectOld(ctx: DbContext, options: { migrate?: boolean } = {}): Promise<Client> {
  const client = await release.module.connect({
    url: ctx.url,
    schema: ctx.schema,
    pollInterval: false,
    max: 4,
    ...options,
  });
  ctx.defer(() => client.close({ timeout: 1000 }));
  return client;
}

async function versions(ctx: DbContext, table: string): Promise<number[]> {
  const rows = await ctx.admin.unsafe<Array<{ version: number }>>(
    `select version from "${ctx.schema}".${table} order by version`,
  );
  return rows.map((row) => row.version);
}

/** Claims one job, fails it (the queue's backoff applies), and stops claiming. */
async function failOnce(queue: Queue<Payload, Result>, ledger: Ledger, by: Side): Promise<string> {
  for await (const job of queue.receive()) {
    ledger.ran(job.id, by);
    await job.nack(new Error(`${by} replica failed`));
    return job.id;
  }
  throw new Error("receive() ended without a job");
}

const migrationsAfterRelease = migrationFiles().filter((f) => f.version > RELEASE_VERSION);

dbTest(
  "v0.1.0 replicas keep working while the current release migrates the schema and joins them",
  async (ctx) => {
    const ledger = new Ledger();
    const old = await connectOld(ctx);
    assert.deepEqual(await versions(ctx, "_migrations"), [1, 2, 3, 4, 5]);

    for (const name of ["mixed", "to-old", "to-new", "dedup", "held"]) await old.createQueue(name);
    for (const name of ["retry-a", "retry-b"]) {
      await old.createQueue(name, { maxAttempts: 3, backoff: { delay: "200ms" } });
    }
    const oldQueue = (name: string) => old.queue<Payload, Result>(name);
    oldQueue("mixed").work(ledger.handler("old"), { concurrency: 4 });
    oldQueue("to-old").work(ledger.handler("old"), { concurrency: 2 });

    // Before the new release exists: a delayed job and a keyed one.
    const delayedByOld = await ledger.track(
      oldQueue("to-new").send({ by: "old", tag: "delayed" }, { delay: "2s" }),
      "to-new",
      "old",
    );
    const oldKeyId = await oldQueue("dedup").send(
      { by: "old", tag: "key" },
      { key: "old-key", delay: "1h" },
    );

    // An old producer sends without pause, a batch once the previous one completed, across the
    // migration, until told to stop.
    let stop = false;
    let roundsAfterMigration = 0;
    const warmedUp = signal();
    const sentAfterMigration = signal();
    const oldProducer = (async () => {
      for (let round = 0; !stop; round++) {
        const ids = await ledger.send(oldQueue("mixed"), "old", 10, `round-${round}`);
        await Promise.all(ids.map((id) => oldQueue("mixed").completion(id)));
        if (round === 2) warmedUp.resolve();
        if (ledger.migrated && ++roundsAfterMigration === 3) sentAfterMigration.resolve();
      }
    })();
    oldProducer.catch(() => undefined); // awaited below; this only keeps an early failure readable
    ctx.defer(() => (stop = true));
    await within(Promise.race([warmedUp.promise, oldProducer]), 60_000, "old producer rounds");

    // The new release connects, which migrates the schema, while the old replicas work.
    const current = await ctx.connect();
    ledger.migrated = true;
    const log = await ctx.admin.unsafe<Array<{ version: number; min_client_version: number }>>(
      `select version, min_client_version from "${ctx.schema}"._migration_log order by version`,
    );
    assert.deepEqual(
      log.map((row) => row.version),
      migrationsAfterRelease.map((file) => file.version),
      "the new release applied its own migrations, and recorded 0.1.0's as found",
    );
    for (const row of log) {
      assert.ok(
        row.min_client_version <= RELEASE_VERSION,
        `migration ${row.version} is not declared compatible with 0.1.0 clients: a rolling ` +
          `upgrade from 0.1.0 to this code is not possible (docs/upgrades.md says how to split it)`,
      );
    }
    assert.deepEqual(await current.migrate(), { version: latestVersion(), applied: [] });

    const newQueue = (name: string) => current.queue<Payload, Result>(name);
    newQueue("mixed").work(ledger.handler("new"), { concurrency: 4 });
    newQueue("to-new").work(ledger.handler("new"), { concurrency: 2 });

    // Both sides send to both sides' workers.
    await ledger.send(newQueue("mixed"), "new", 200, "new-mixed");
    await ledger.send(newQueue("to-old"), "new", 50, "new-to-old");
    await ledger.send(oldQueue("to-old"), "old", 50, "old-to-old");
    await ledger.send(oldQueue("to-new"), "old", 50, "old-to-new");
    const delayedByNew = await ledger.track(
      newQueue("to-old").send({ by: "new", tag: "delayed" }, { delay: "1s" }),
      "to-old",
      "new",
    );

    // Dedup keys hold across releases, both ways.
    const sameKey = { key: "old-key", delay: "1h" };
    assert.equal(await newQueue("dedup").send({ by: "new", tag: "key" }, sameKey), oldKeyId);
    const newKeyId = await newQueue("dedup").send(
      { by: "new", tag: "key" },
      { key: "new-key", delay: "1h" },
    );
    assert.equal(
      await oldQueue("dedup").send({ by: "old", tag: "key" }, { key: "new-key", delay: "1h" }),
      newKeyId,
    );

    // Retries cross releases: one fails on an old replica and is retried by a new one, the other
    // the other way round.
    const retryA = await ledger.track(
      oldQueue("retry-a").send({ by: "old", tag: "retry" }),
      "retry-a",
      "old",
    );
    assert.equal(
      await within(failOnce(oldQueue("retry-a"), ledger, "old"), 30_000, "old nack"),
      retryA,
    );
    newQueue("retry-a").work(ledger.handler("new"));
    const retryB = await ledger.track(
      newQueue("retry-b").send({ by: "new", tag: "retry" }),
      "retry-b",
      "new",
    );
    assert.equal(
      await within(failOnce(newQueue("retry-b"), ledger, "new"), 30_000, "new nack"),
      retryB,
    );
    oldQueue("retry-b").work(ledger.handler("old"));

    // Dependencies too: an old producer's job, in a queue nobody works yet, holds back a new
    // producer's job until a new worker completes it; then an old worker runs the dependent.
    const parent = await ledger.track(
      oldQueue("held").send({ by: "old", tag: "parent" }),
      "held",
      "old",
    );
    const child = await ledger.track(
      newQueue("to-old").send({ by: "new", tag: "child" }, { after: [parent] }),
      "to-old",
      "new",
    );
    const [held] = await ctx.admin.unsafe<Array<{ state: string }>>(
      `select state::text from "${ctx.schema}"._jobs where id = $1`,
      [child],
    );
    assert.equal(held?.state, "waiting", "the dependent waits for its parent");
    newQueue("held").work(ledger.handler("new"));

    await within(Promise.race([sentAfterMigration.promise, oldProducer]), 60_000, "old rounds");
    stop = true;
    await oldProducer;
    const completed = await within(
      Promise.all(ledger.completions),
      120_000,
      "the completion of every job sent",
    );

    // Every job sent completed once, with the result of its one run (two for the retried ones).
    const results = new Map(completed.map(({ id, result }) => [id, result]));
    assert.equal(results.size, ledger.sent.size);
    for (const [id, sent] of ledger.sent) {
      const runs = ledger.runs.get(id) ?? [];
      const retried = sent.queue.startsWith("retry");
      assert.equal(runs.length, retried ? 2 : 1, `job ${id} of ${sent.queue} ran ${runs.length}×`);
      assert.deepEqual(results.get(id), {
        by: runs.at(-1),
        attempt: runs.length,
        payload: results.get(id)!.payload,
      });
      assert.equal(results.get(id)!.payload.by, sent.by);
    }
    const rows = await ctx.admin.unsafe<Array<{ id: string; queue: string; state: string }>>(
      `select id, queue, state::text from "${ctx.schema}"._jobs order by id`,
    );
    assert.deepEqual(
      rows.filter((row) => row.queue !== "dedup").map((row) => [row.id, row.state]),
      [...ledger.sent.keys()].sort().map((id) => [id, "completed"]),
      "the table holds exactly the jobs sent, all completed",
    );
    assert.deepEqual(
      rows.filter((row) => row.queue === "dedup").map((row) => row.state),
      ["scheduled", "scheduled"],
      "one job per key",
    );

    // Each side ran the other side's jobs, sent before and after the migration.
    const runBy = (ids: string[], by: Side) => ids.every((id) => ledger.runs.get(id)?.[0] === by);
    assert.ok(runBy(ledger.sentTo("to-old", "new"), "old"), "old workers ran new producers' jobs");
    assert.ok(runBy(ledger.sentTo("to-old", "old"), "old"));
    assert.ok(runBy(ledger.sentTo("to-new", "old"), "new"), "new workers ran old producers' jobs");
    assert.deepEqual(ledger.runs.get(delayedByOld), ["new"], "the old delayed job ran on new");
    assert.deepEqual(ledger.runs.get(delayedByNew), ["old"], "the new delayed job ran on old");
    assert.deepEqual(ledger.runs.get(retryA), ["old", "new"]);
    assert.deepEqual(ledger.runs.get(retryB), ["new", "old"]);
    assert.deepEqual([ledger.runs.get(parent), ledger.runs.get(child)], [["new"], ["old"]]);
    const errors = await ctx.admin.unsafe<Array<{ queue: string; message: string }>>(
      `select queue, errors -> 0 ->> 'message' as message from "${ctx.schema}"._jobs
       where queue like 'retry-%' order by queue`,
    );
    assert.deepEqual(
      errors.map((row) => [row.queue, row.message]),
      [
        ["retry-a", "old replica failed"],
        ["retry-b", "new replica failed"],
      ],
    );
    const oldMixed = ledger.sentTo("mixed", "old");
    assert.ok(
      oldMixed.some((id) => ledger.sent.get(id)!.afterMigration),
      "old sent after",
    );
    assert.ok(
      oldMixed.some((id) => !ledger.sent.get(id)!.afterMigration),
      "old sent before",
    );

    const count = (by: Side, after: boolean) =>
      [...ledger.sent.values()].filter((s) => s.by === by && s.afterMigration === after).length;
    ctx.t.diagnostic(
      `${ledger.sent.size} jobs: 0.1.0 sent ${count("old", false)} before the migration and ` +
        `${count("old", true)} after, the current release ${count("new", true)}; ` +
        `migrations applied meanwhile: ${migrationsAfterRelease.map((f) => f.version).join(", ") || "none"}`,
    );

    // An old replica that restarts mid-rollout connects, migrating or not, and works.
    for (const migrateOption of [true, false]) {
      const restarted = await connectOld(ctx, { migrate: migrateOption });
      const sent = restarted.queue<Payload, Result>("to-new").send({ by: "old", tag: "restart" });
      assert.equal((await sent.completed).by, "new");
      await restarted.close();
    }
  },
  { timeout: 240_000 },
);

/** A newer release's additive migration, and one that breaks older clients. */
function futureMigrations(): { additive: MigrationFile; breaking: MigrationFile } {
  const next = latestVersion() + 1;
  return {
    additive: {
      version: next,
      name: "rolling_probe",
      text:
        "-- pgwake: compatible\n" +
        "alter table /*schema*/_jobs add column rolling_probe text;\n" +
        "alter table /*schema*/_jobs set (fillfactor = 90);\n" +
        "create index _jobs_rolling_probe_idx on /*schema*/_jobs (rolling_probe);\n",
    },
    breaking: {
      version: next + 1,
      name: "rolling_breaking",
      text: "create table /*schema*/_rolling_breaking (id int);\n",
    },
  };
}

dbTest(
  "a v0.1.0 replica joins a schema the current release installed, and newer compatible ones; a breaking one refuses it",
  async (ctx) => {
    const { additive, breaking } = futureMigrations();
    const current = await ctx.connect();
    await current.createQueue("q");
    current
      .queue<Payload, Result>("q")
      .work(async (job) => ({ by: "new", attempt: job.attempt, payload: job.payload }));

    // Connecting (or rolling back) to 0.1.0 after the current release installed the schema.
    const roundTrip = async (client: Client) =>
      (await client.queue<Payload, Result>("q").send({ by: "old", tag: "x" }).completed).by;
    const old = await connectOld(ctx);
    assert.deepEqual(await old.migrate(), { version: RELEASE_VERSION, applied: [] });
    assert.equal(await roundTrip(old), "new");

    // A release after this one adds a compatible migration: old and current replicas restart.
    const { sql } = ctx.pool();
    await migrate(sql, ctx.schema, [...migrationFiles(), additive]);
    assert.equal(minClientVersion(additive), 0);
    assert.equal(await roundTrip(await connectOld(ctx)), "new");
    assert.equal(await roundTrip(await connectOld(ctx, { migrate: false })), "new");
    assert.equal(await roundTrip(await ctx.connect()), "new");
    assert.equal(await roundTrip(old), "new", "the running old replica still works");

    // Then a breaking one: both refuse the schema on connect, each with its SchemaTooNewError.
    await migrate(sql, ctx.schema, [...migrationFiles(), additive, breaking]);
    for (const migrateOption of [true, false]) {
      await assert.rejects(connectOld(ctx, { migrate: migrateOption }), (error: unknown) => {
        assert.ok(error instanceof release.module.SchemaTooNewError, String(error));
        assert.equal(error.databaseVersion, breaking.version);
        assert.equal(error.codeVersion, RELEASE_VERSION);
        return true;
      });
      await assert.rejects(ctx.connect({ migrate: migrateOption }), (error: unknown) => {
        assert.ok(error instanceof SchemaTooNewError, String(error));
        assert.equal(error.requiredVersion, breaking.version);
        return true;
      });
    }
  },
  { timeout: 120_000 },
);

dbTest(
  "v0.1.0 and current clients installing the same fresh schema at once: each migration once",
  async (ctx) => {
    const clients = await Promise.all([
      ...Array.from({ length: 3 }, () => connectOld(ctx)),
      ...Array.from({ length: 3 }, () => ctx.connect({ max: 2 })),
    ]);
    assert.equal(clients.length, 6);
    // 0.1.0 records in _migrations only; the current release in both tables (see migrate.ts).
    assert.deepEqual(await versions(ctx, "_migrations"), [
      1,
      2,
      3,
      4,
      5,
      ...migrationsAfterRelease
        .filter((file) => minClientVersion(file) > RELEASE_VERSION)
        .map((file) => file.version),
    ]);
    const log = await versions(ctx, "_migration_log");
    const all = [...new Set([...(await versions(ctx, "_migrations")), ...log])].sort(
      (a, b) => a - b,
    );
    assert.deepEqual(
      all,
      migrationFiles().map((file) => file.version),
    );
    assert.deepEqual(await clients[5]!.migrate(), { version: latestVersion(), applied: [] });
    await clients[0]!.createQueue("q");
    clients[4]!.queue("q").work(async (job) => job.payload);
    assert.equal(await clients[1]!.queue("q").send("both").completed, "both");
  },
);
