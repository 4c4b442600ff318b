/**
 * The compatibility rule of src/db/migrate.ts: a client accepts a schema migrated further by a
 * newer release when the newer migrations are declared compatible with it, and refuses it with
 * SchemaTooNewError otherwise. Newer releases are played by extra migration files.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { SchemaTooNewError } from "../../src/index.js";
import {
  checkSchemaVersion,
  latestVersion,
  migrate,
  minClientVersion,
} from "../../src/db/migrate.js";
import { migrationFiles, type MigrationFile } from "../../src/db/sql-files.js";
import { dbTest, type DbContext } from "../helpers/db.js";

const current = migrationFiles();
const known = latestVersion();

function migration(version: number, name: string, text: string): MigrationFile {
  return { version, name, text };
}

/** An additive migration, as a newer release could ship. */
const addColumn = migration(
  known + 1,
  "probe_column",
  "-- A newer release's column that older clients never read.\n" +
    "-- pgwake: compatible\n" +
    "alter table /*schema*/_jobs add column compatibility_probe text;\n",
);

/** A breaking one: nothing older may use the schema once it is applied. */
const breaking = migration(
  known + 2,
  "probe_breaking",
  "-- A change older clients cannot work with.\ncreate table /*schema*/_probe (id int);\n",
);

async function logRows(admin: DbContext["admin"], schema: string) {
  return admin.unsafe<Array<{ version: number; min_client_version: number }>>(
    `select version, min_client_version from "${schema}"._migration_log order by version`,
  );
}

async function legacyVersions(admin: DbContext["admin"], schema: string): Promise<number[]> {
  const rows = await admin.unsafe<Array<{ version: number }>>(
    `select version from "${schema}"._migrations order by version`,
  );
  return rows.map((row) => row.version);
}

test("a migration's -- pgwake: line sets the oldest client that can use it", () => {
  const file = (text: string) =>
    migration(9, "x", `-- pgwake 0009: something.\n${text}select 1;\n`);
  assert.equal(minClientVersion(file("")), 9, "no line: breaking");
  assert.equal(minClientVersion(file("-- pgwake: compatible\n")), 0);
  assert.equal(minClientVersion(file("--pgwake: compatible  \n")), 0);
  assert.equal(minClientVersion(file("-- pgwake: compatible from 0007\n")), 7);
  assert.throws(
    () => minClientVersion(file("-- pgwake: compatable\n")),
    /expected "-- pgwake: compatible"/,
  );
  assert.throws(
    () => minClientVersion(file("-- pgwake: compatible from 0009\n")),
    /not older than itself/,
  );
  assert.throws(
    () => minClientVersion(file("-- pgwake: compatible\n-- pgwake: compatible\n")),
    /keep one/,
  );
});

test("every migration file's declaration reads: 0001-0005 are breaking, 0006 compatible", () => {
  for (const file of current) {
    const min = minClientVersion(file);
    if (file.version <= 5) assert.equal(min, file.version, `${file.name} is 0.1.0's own`);
    else assert.ok(min <= file.version, `${file.name}: ${min}`);
  }
  // Only function bodies and new helpers: every client, 0.1.0's included, can use the schema.
  assert.equal(minClientVersion(current.find((file) => file.version === 6)!), 0);
});

dbTest(
  "a schema with newer compatible migrations is accepted, with migrate and without",
  async ({ admin, schema, pool, connect }) => {
    const { sql } = pool();
    const newer = await migrate(sql, schema, [...current, addColumn]);
    assert.equal(newer.version, addColumn.version);

    const client = await connect();
    assert.deepEqual(await client.migrate(), { version: addColumn.version, applied: [] });
    const readOnly = await connect({ migrate: false });
    assert.equal(await checkSchemaVersion(sql, schema), addColumn.version);

    const q = await client.createQueue("q");
    readOnly.queue("q").work(async (job) => ({ echo: job.payload }));
    assert.deepEqual(await q.send("hi").completed, { echo: "hi" });

    const log = await logRows(admin, schema);
    assert.deepEqual(log.at(-1), { version: addColumn.version, min_client_version: 0 });
    assert.ok(
      !(await legacyVersions(admin, schema)).includes(addColumn.version),
      "pgwake 0.1.0 reads _migrations: an additive migration stays out of it",
    );
  },
);

dbTest(
  "a breaking newer migration is refused on connect, with migrate and without",
  async ({ url, admin, schema, pool, connect }) => {
    await migrate(pool().sql, schema, [...current, addColumn, breaking]);
    const before = await logRows(admin, schema);
    for (const migrateOption of [true, false]) {
      await assert.rejects(connect({ migrate: migrateOption }), (error: unknown) => {
        assert.ok(error instanceof SchemaTooNewError, String(error));
        assert.equal(error.databaseVersion, breaking.version);
        assert.equal(error.requiredVersion, breaking.version);
        assert.equal(error.codeVersion, known);
        assert.match(error.message, /upgrade pgwake/);
        assert.match(error.message, /finish the rollout/);
        assert.ok(!error.message.includes(url), "the message does not leak the URL");
        return true;
      });
    }
    assert.deepEqual(await logRows(admin, schema), before, "the refused client changed nothing");
    assert.ok(
      (await legacyVersions(admin, schema)).includes(breaking.version),
      "_migrations holds it, so pgwake 0.1.0 refuses the schema too",
    );
  },
);

dbTest(
  "'compatible from N' admits the clients that know migration N and refuses older ones",
  async ({ schema, pool }) => {
    const { sql } = pool();
    const phaseOne = migration(known + 1, "stop_using_x", "-- pgwake: compatible\nselect 1;\n");
    const phaseTwo = migration(
      known + 2,
      "drop_x",
      `-- pgwake: compatible from ${String(phaseOne.version).padStart(4, "0")}\nselect 1;\n`,
    );
    await migrate(sql, schema, [...current, phaseOne, phaseTwo]);

    await assert.rejects(migrate(sql, schema, current), (error: unknown) => {
      assert.ok(error instanceof SchemaTooNewError);
      assert.equal(error.requiredVersion, phaseOne.version);
      return true;
    });
    await assert.rejects(checkSchemaVersion(sql, schema, current), SchemaTooNewError);
    assert.deepEqual(await migrate(sql, schema, [...current, phaseOne]), {
      version: phaseTwo.version,
      applied: [],
    });
    assert.equal(await checkSchemaVersion(sql, schema, [...current, phaseOne]), phaseTwo.version);
  },
);

dbTest(
  "a malformed declaration stops the migration before any file runs",
  async ({ admin, schema, pool }) => {
    const { sql } = pool();
    await migrate(sql, schema, current);
    const before = await logRows(admin, schema);
    const typo = migration(known + 1, "typo", "-- pgwake: compatable\nselect 1;\n");
    const fine = migration(known + 2, "fine", "-- pgwake: compatible\nselect 1;\n");
    await assert.rejects(migrate(sql, schema, [...current, fine, typo]), /compatable/);
    assert.deepEqual(await logRows(admin, schema), before);
  },
);

dbTest(
  "migrate: false wants every migration this code knows, even on a newer schema",
  async ({ schema, pool }) => {
    const { sql } = pool();
    // A schema that skipped one of ours can only come from a hand-made mess, but must not pass.
    const ours = [...current, addColumn];
    await migrate(sql, schema, current.slice(0, -1));
    await assert.rejects(checkSchemaVersion(sql, schema, ours), /run client\.migrate\(\)/);
    await migrate(sql, schema, ours);
    assert.equal(await checkSchemaVersion(sql, schema, ours), addColumn.version);
  },
);
