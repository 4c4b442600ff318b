/**
 * Migration 0011 makes the jobs table again with its columns in a new order: every row, every
 * column, what an operator granted on the table and the view, their owner and the operator's
 * storage settings must come through, and the jobs must still work afterwards.
 */
import assert from "node:assert/strict";
import { PgwakeError } from "../../src/index.js";
import { migrate } from "../../src/db/migrate.js";
import { migrationFiles } from "../../src/db/sql-files.js";
import { dbTest, type DbContext } from "../helpers/db.js";

const BEFORE = 10;

/** Every row of the table and of the view, as JSON by id (column order does not matter to jsonb). */
async function contents(ctx: DbContext): Promise<{ table: unknown; view: unknown }> {
  const read = (from: string) =>
    ctx.admin.unsafe<Array<{ rows: unknown }>>(
      `select jsonb_object_agg(j.id, to_jsonb(j)) as rows from "${ctx.schema}".${from} j`,
    );
  const [[table], [view]] = await Promise.all([read("_jobs"), read("jobs")]);
  return { table: table!.rows, view: view!.rows };
}

dbTest(
  "migration 0011 keeps every job, column for column, the grants and the owner, and the jobs work",
  async (ctx) => {
    const { admin, schema } = ctx;
    const s = `"${schema}"`;
    await migrate(
      admin,
      schema,
      migrationFiles().filter((file) => file.version <= BEFORE),
    );
    // One job in every state, with every column set somewhere.
    await admin.unsafe(`
      insert into ${s}._queues (name) values ('q');
      insert into ${s}._jobs (id, queue, state, priority, run_at, payload, attributes, attempt,
                              max_attempts, lease_token, lease_expires_at, leased_by, result,
                              errors, created_at, started_at, finished_at, key, after,
                              trace_context)
      values
        ('00000000-0000-7000-8000-000000000001', 'q', 'completed', 3, now() - interval '1 h',
         '{"n": 1}', '{"region": "eu"}', 1, 4, gen_random_uuid(), null, 'worker-a',
         '{"ok": true}', null, now() - interval '2 h', now() - interval '1 h', now(), null, null,
         '{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}'),
        ('00000000-0000-7000-8000-000000000002', 'q', 'failed', 0, now(), '"two"', null, 2, 2,
         gen_random_uuid(), null, 'worker-b', null, '[{"message": "boom"}, {"message": "again"}]',
         now(), now(), now(), null, null, null),
        ('00000000-0000-7000-8000-000000000003', 'q', 'running', 0, now(), '[3]', null, 1, null,
         'aaaaaaaa-0000-4000-8000-000000000003', now() + interval '1 h', 'worker-c', null, null,
         now(), now(), null, 'running-key', null, null),
        ('00000000-0000-7000-8000-000000000004', 'q', 'queued', 5, now(), '{"n": 4}',
         '{"region": "us"}', 0, null, null, null, null, null, null, now(), null, null, 'queued-key',
         null, null),
        ('00000000-0000-7000-8000-000000000005', 'q', 'scheduled', 0, now() + interval '1 day',
         'null', null, 0, null, null, null, null, null, null, now(), null, null, null, null, null),
        ('00000000-0000-7000-8000-000000000006', 'q', 'waiting', 0, now(), '6', null, 0, null,
         null, null, null, null, null, now(), null, null, null,
         '{00000000-0000-7000-8000-000000000003}', null);
    `);
    // An operator's reader role, and an owner other than the migrating role.
    const reader = `${schema}_reader`;
    const owner = `${schema}_owner`;
    await admin.unsafe(`create role "${reader}" nologin; create role "${owner}" nologin`);
    ctx.defer(() =>
      admin.unsafe(`drop role if exists "${reader}"; drop role if exists "${owner}"`),
    );
    ctx.defer(() => admin.unsafe(`drop schema if exists ${s} cascade`)); // before the roles go
    await admin.unsafe(`
      grant select on ${s}.jobs to "${reader}";
      grant select, update on ${s}._jobs to "${reader}" with grant option;
      alter table ${s}._jobs owner to "${owner}";
      alter view ${s}.jobs owner to "${owner}";
      grant select on ${s}._queues to "${owner}"; -- the view reads it as its owner
      alter table ${s}._jobs set (autovacuum_vacuum_scale_factor = 0.1, fillfactor = 90);
    `);
    const before = await contents(ctx);

    const report = await migrate(admin, schema);
    assert.ok(report.applied.includes(11), `0011 applied: ${JSON.stringify(report)}`);

    assert.deepEqual(await contents(ctx), before, "every row and column, in the table and view");
    const columns = await admin<Array<{ attname: string }>>`
      select attname from pg_attribute
      where attrelid = ${`${s}._jobs`}::regclass and attnum > 0 and not attisdropped
      order by attnum`;
    assert.deepEqual(
      columns.slice(-6).map((c) => c.attname),
      ["started_at", "state", "lease_expires_at", "result", "errors", "finished_at"],
      "the columns an ack changes come last",
    );
    const [privileges] = await admin<
      Array<{ view: boolean; table: boolean; grantable: boolean; insert: boolean }>
    >`
      select has_table_privilege(${reader}, ${`${s}.jobs`}, 'select') as view,
             has_table_privilege(${reader}, ${`${s}._jobs`}, 'select, update') as table,
             has_table_privilege(${reader}, ${`${s}._jobs`}, 'update with grant option')
               as grantable,
             has_table_privilege(${reader}, ${`${s}._jobs`}, 'insert') as insert`;
    assert.deepEqual(privileges, { view: true, table: true, grantable: true, insert: false });
    const owners = await admin<Array<{ relname: string; owner: string }>>`
      select c.relname, pg_get_userbyid(c.relowner) as owner from pg_class c
      where c.oid in (${`${s}._jobs`}::regclass, ${`${s}.jobs`}::regclass) order by 1`;
    assert.deepEqual(
      [...owners],
      [
        { relname: "_jobs", owner },
        { relname: "jobs", owner },
      ],
    );

    const [{ options, rows }] = await admin<[{ options: string[]; rows: number }]>`
      select reloptions as options, reltuples as rows from pg_class
      where oid = ${`${s}._jobs`}::regclass`;
    assert.equal(rows, 6, "analyzed by the migration");
    assert.deepEqual(
      [...options].sort(),
      [
        "autovacuum_analyze_scale_factor=0.02",
        "autovacuum_vacuum_cost_delay=0",
        "autovacuum_vacuum_insert_scale_factor=0.05",
        "autovacuum_vacuum_scale_factor=0.1",
        "fillfactor=50",
      ],
      "the operator's autovacuum setting carries over; the fillfactor is the migration's",
    );

    // The jobs work: the queued one runs, keys still hold, the view reads through.
    const client = await ctx.connect();
    const queue = client.queue<unknown, string>("q");
    assert.equal(
      await queue.send({ n: 7 }, { key: "queued-key" }),
      "00000000-0000-7000-8000-000000000004",
      "a key held before the migration still dedups",
    );
    queue.work(async (job) => `ran ${job.id}`, { concurrency: 1 });
    assert.equal(
      await queue.completion("00000000-0000-7000-8000-000000000004"),
      "ran 00000000-0000-7000-8000-000000000004",
    );
    const [job] = await admin.unsafe<Array<{ state: string; result: unknown }>>(
      `select state, result from ${s}.jobs where id = '00000000-0000-7000-8000-000000000004'`,
    );
    assert.deepEqual(job, {
      state: "completed",
      result: "ran 00000000-0000-7000-8000-000000000004",
    });
  },
);

dbTest(
  "migration 0011 refuses, changing nothing, while a view of the operator's depends on jobs",
  async (ctx) => {
    const { admin, schema } = ctx;
    const s = `"${schema}"`;
    await migrate(
      admin,
      schema,
      migrationFiles().filter((file) => file.version <= BEFORE),
    );
    await admin.unsafe(`
      insert into ${s}._queues (name) values ('q');
      insert into ${s}._jobs (queue, payload) values ('q', '1'), ('q', '2');
      create view ${s}.operator_counts as select queue, count(*) from ${s}.jobs group by queue;
    `);
    const table = async () =>
      (
        await admin<Array<{ oid: number; version: number }>>`
          select ${`${s}._jobs`}::regclass::oid::int as oid,
                 (select max(version) from ${admin(schema)}._migration_log) as version`
      )[0];
    const before = await table();
    assert.equal(before!.version, BEFORE);

    await assert.rejects(migrate(admin, schema), (error: Error) => {
      assert.ok(error instanceof PgwakeError, String(error));
      assert.match(error.message, /these depend on it: view \S+\.operator_counts\. Drop them, run/);
      return true;
    });
    assert.deepEqual(await table(), before, "the same table, still at migration 0010");
    const views = await admin<Array<{ count: number }>>`
      select count::int from ${admin(schema)}.operator_counts`;
    assert.deepEqual([...views], [{ count: 2 }], "the operator's view still reads the jobs");

    await admin.unsafe(`drop view ${s}.operator_counts`);
    assert.ok((await migrate(admin, schema)).applied.includes(11), "once it is gone, 0011 runs");
  },
);
