import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import postgres from "postgres";
import { connect, PgwakeError, SchemaTooNewError } from "../../src/index.js";
import { latestVersion, migrate } from "../../src/db/migrate.js";
import { dbTest } from "../helpers/db.js";
import { dumpSchema } from "../helpers/catalog.js";

dbTest(
  "connect migrates a fresh schema and records every version",
  async ({ connect, admin, schema }) => {
    await connect();
    const rows = await admin.unsafe(
      `select version, name from "${schema}"._migration_log order by version`,
    );
    assert.equal(rows.length, latestVersion());
    assert.deepEqual(rows[0], { version: 1, name: "init" });
    const tables =
      await admin`select tablename from pg_tables where schemaname = ${schema} order by 1`;
    assert.deepEqual(
      tables.map((r) => r.tablename),
      ["_jobs", "_migration_log", "_migrations", "_queues", "_schedules"],
    );
  },
);

dbTest("migrating again changes nothing", async ({ connect }) => {
  const client = await connect();
  assert.deepEqual(await client.migrate(), { version: latestVersion(), applied: [] });
});

dbTest(
  "a role that may read an up-to-date schema but create nothing migrates it (nothing to apply)",
  async ({ admin, schema, pool, defer }) => {
    await migrate(admin, schema);
    // Least privilege: no CREATE on the database or the schema, only what reading needs.
    const reader = `${schema}_app`;
    await admin.unsafe(`
      create role "${reader}" nologin;
      grant usage on schema "${schema}" to "${reader}";
      grant select on "${schema}"._migrations, "${schema}"._migration_log to "${reader}";
    `);
    defer(() => admin.unsafe(`drop owned by "${reader}"; drop role if exists "${reader}"`));
    defer(() => admin.unsafe(`drop schema if exists "${schema}" cascade`));
    const asReader = pool({ max: 1, connection: { role: reader } }).sql;
    const [{ creates }] = await asReader<[{ creates: boolean }]>`
      select has_database_privilege(current_database(), 'create')
          or has_schema_privilege(${schema}, 'create') as creates`;
    assert.equal(creates, false);
    assert.deepEqual(await migrate(asReader, schema), { version: latestVersion(), applied: [] });
  },
);

dbTest(
  "20 clients migrating the same fresh schema at once all succeed, each migration once",
  async ({ url, schema, admin }) => {
    const pools = Array.from({ length: 20 }, () =>
      postgres(url, { max: 1, onnotice: () => undefined }),
    );
    try {
      const reports = await Promise.all(pools.map((sql) => migrate(sql, schema)));
      assert.equal(
        reports.filter((r) => r.applied.length > 0).length,
        1,
        "exactly one applied the migrations",
      );
      assert.ok(reports.every((r) => r.version === latestVersion()));
      const { n } = (
        await admin.unsafe<Array<{ n: number }>>(
          `select count(*)::int as n from "${schema}"._migration_log`,
        )
      )[0]!;
      assert.equal(n, latestVersion());
    } finally {
      await Promise.all(pools.map((sql) => sql.end()));
    }
  },
);

dbTest("20 connect() calls at once on a fresh schema all work", async ({ connect }) => {
  const clients = await Promise.all(Array.from({ length: 20 }, () => connect({ max: 1 })));
  const q = await clients[0]!.createQueue("race");
  assert.match(await q.send(1), /-/);
});

dbTest(
  "a schema migrated by a newer pgwake is refused with what to do",
  async ({ url, schema, admin, connect: ctxConnect }) => {
    await ctxConnect();
    const future = latestVersion() + 1;
    await admin.unsafe(
      `insert into "${schema}"._migrations (version, name) values (${future}, 'from_the_future')`,
    );
    await assert.rejects(connect({ url, schema, pollInterval: false }), (error: unknown) => {
      assert.ok(error instanceof SchemaTooNewError);
      assert.equal(error.databaseVersion, future);
      assert.match(error.message, /upgrade pgwake/);
      return true;
    });
  },
);

dbTest(
  "migrate: false refuses an unmigrated schema and says how to migrate",
  async ({ url, schema }) => {
    await assert.rejects(
      connect({ url, schema, migrate: false, pollInterval: false }),
      (error: unknown) =>
        error instanceof PgwakeError &&
        error.code === "SCHEMA_OUTDATED" &&
        /client\.migrate\(\)/.test(error.message),
    );
  },
);

dbTest(
  "a hostile schema name is quoted everywhere, channels included",
  async ({ url, admin, defer }) => {
    const schema = `pgwake_t_${Date.now()}_we"ird 'name; drop`;
    defer(() => admin.unsafe(`drop schema if exists "${schema.replace(/"/g, '""')}" cascade`));
    const client = await connect({ url, schema, pollInterval: false });
    defer(() => client.close());
    const q = await client.createQueue("q");
    q.work(async (job) => job.payload);
    assert.equal(await q.send("hi").completed, "hi");
  },
);

dbTest(
  "the migrated catalog matches test/schema.snapshot.sql",
  async ({ connect, admin, schema }) => {
    await connect();
    const snapshotPath = new URL("../schema.snapshot.sql", import.meta.url);
    const actual = await dumpSchema(admin, schema);
    if (process.env.PGWAKE_UPDATE_SNAPSHOT === "1") writeFileSync(snapshotPath, actual);
    const expected = readFileSync(snapshotPath, "utf8");
    const [have, want] = [new Set(actual.split("\n")), new Set(expected.split("\n"))];
    const drift = [
      ...[...want].filter((l) => !have.has(l)).map((l) => `- ${l}`),
      ...[...have].filter((l) => !want.has(l)).map((l) => `+ ${l}`),
    ];
    assert.deepEqual(
      drift,
      [],
      "the schema drifted from test/schema.snapshot.sql; if intended, run PGWAKE_UPDATE_SNAPSHOT=1 npm test",
    );
    assert.equal(actual, expected, "same lines, different order");
  },
);
