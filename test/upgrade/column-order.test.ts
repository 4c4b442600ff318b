/**
 * Migration 0011 makes the jobs table again with its columns in a new order: every row, every
 * column, and what an operator set on the table and the view (privileges, owner, storage
 * settings, comments, replica identity, column statistics and storage) must come through, and the
 * jobs must still work afterwards. What it cannot carry over, it refuses before changing anything.
 */
import assert from "node:assert/strict";
import { PgwakeError } from "../../src/index.js";
import { migrate } from "../../src/db/migrate.js";
import { migrationFiles } from "../../src/db/sql-files.js";
import { dbTest, type DbContext } from "../helpers/db.js";

const BEFORE = 10;

/** Migrates the test's schema up to 0010 only, and returns its quoted name. */
async function schemaBefore0011(ctx: DbContext): Promise<string> {
  await migrate(
    ctx.admin,
    ctx.schema,
    migrationFiles().filter((file) => file.version <= BEFORE),
  );
  return `"${ctx.schema}"`;
}

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
  "migration 0011 keeps every job, column for column, and what was set on the table and the view",
  async (ctx) => {
    const { admin, schema } = ctx;
    const s = await schemaBefore0011(ctx);
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
      alter table ${s}._jobs set (autovacuum_vacuum_scale_factor = 0.1, fillfactor = 90,
                                  toast.autovacuum_enabled = false);
      alter table ${s}._jobs reset (autovacuum_vacuum_cost_delay);
      alter table ${s}._jobs replica identity full;
      alter table ${s}._jobs alter column payload set statistics 500;
      alter table ${s}._jobs alter column payload set storage external;
      alter view ${s}.jobs set (security_barrier = true);
      comment on table ${s}._jobs is 'the queue';
      comment on column ${s}._jobs.payload is 'what to do';
      comment on view ${s}.jobs is 'read me';
      grant insert (payload) on ${s}._jobs to "${reader}";
      -- Objects made from now on give the reader DELETE; the old table never did.
      alter default privileges in schema ${s} grant delete on tables to "${reader}";
      revoke truncate on ${s}._jobs from "${owner}";
      alter table ${s}._jobs alter column priority set default 7;
      alter table ${s}._jobs alter column payload set (n_distinct = 100);
      alter table ${s}._jobs enable always trigger _jobs_after_update;
      alter index ${s}._jobs_claim_idx set (fillfactor = 70);
      comment on index ${s}._jobs_claim_idx is 'the claim walks this';
      comment on trigger _jobs_after_insert on ${s}._jobs is 'wakes workers';
      comment on constraint _jobs_pkey on ${s}._jobs is 'one row a job';
      alter table ${s}._jobs cluster on _jobs_pkey;
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
    const [privileges] = await admin`
      select has_table_privilege(${reader}, ${`${s}.jobs`}, 'select') as view,
             has_table_privilege(${reader}, ${`${s}._jobs`}, 'select, update') as table,
             has_table_privilege(${reader}, ${`${s}._jobs`}, 'update with grant option')
               as grantable,
             has_table_privilege(${reader}, ${`${s}._jobs`}, 'insert') as insert,
             has_column_privilege(${reader}, ${`${s}._jobs`}, 'payload', 'insert') as column,
             has_table_privilege(${reader}, ${`${s}._jobs`}, 'delete') as delete,
             has_table_privilege(${reader}, ${`${s}.jobs`}, 'delete') as view_delete`;
    assert.deepEqual(
      { ...privileges },
      {
        view: true,
        table: true,
        grantable: true,
        insert: false,
        column: true,
        delete: false,
        view_delete: false,
      },
      "privileges exactly as before: the default privileges the new objects got are taken back",
    );
    const [carried] = await admin`
      select obj_description(${`${s}._jobs`}::regclass, 'pg_class') as table_comment,
             obj_description(${`${s}.jobs`}::regclass, 'pg_class') as view_comment,
             col_description(${`${s}._jobs`}::regclass,
               (select attnum from pg_attribute where attrelid = ${`${s}._jobs`}::regclass
                  and attname = 'payload')) as column_comment,
             (select relreplident from pg_class where oid = ${`${s}._jobs`}::regclass)
               as replica_identity,
             (select attstattarget::int from pg_attribute
              where attrelid = ${`${s}._jobs`}::regclass and attname = 'payload') as statistics,
             (select attstorage from pg_attribute
              where attrelid = ${`${s}._jobs`}::regclass and attname = 'payload') as storage,
             (select reloptions from pg_class where oid = ${`${s}.jobs`}::regclass)
               as view_options,
             (select t.reloptions from pg_class c join pg_class t on t.oid = c.reltoastrelid
              where c.oid = ${`${s}._jobs`}::regclass) as toast_options,
             has_table_privilege(${owner}, ${`${s}._jobs`}, 'truncate') as owner_truncates,
             has_table_privilege(${owner}, ${`${s}._jobs`}, 'select, delete') as owner_deletes,
             (select pg_get_expr(adbin, adrelid) from pg_attrdef
              where adrelid = ${`${s}._jobs`}::regclass and adnum = (
                select attnum from pg_attribute where attrelid = ${`${s}._jobs`}::regclass
                  and attname = 'priority')) as priority_default,
             (select array(select o from unnest(attoptions) o where o like 'n_distinct=%')
              from pg_attribute
              where attrelid = ${`${s}._jobs`}::regclass and attname = 'payload') as payload_options,
             (select string_agg(tgname || '=' || tgenabled::text, ',' order by tgname) from pg_trigger
              where tgrelid = ${`${s}._jobs`}::regclass) as triggers,
             (select reloptions from pg_class where oid = ${`${s}._jobs_claim_idx`}::regclass)
               as index_options,
             obj_description(${`${s}._jobs_claim_idx`}::regclass, 'pg_class') as index_comment,
             (select obj_description(oid, 'pg_trigger') from pg_trigger
              where tgrelid = ${`${s}._jobs`}::regclass and tgname = '_jobs_after_insert')
               as trigger_comment,
             (select obj_description(oid, 'pg_constraint') from pg_constraint
              where conrelid = ${`${s}._jobs`}::regclass and conname = '_jobs_pkey')
               as constraint_comment,
             (select indisclustered from pg_index
              where indexrelid = ${`${s}._jobs_pkey`}::regclass) as clustered`;
    assert.deepEqual(
      { ...carried },
      {
        table_comment: "the queue",
        view_comment: "read me",
        column_comment: "what to do",
        replica_identity: "f",
        statistics: 500,
        storage: "e",
        view_options: ["security_barrier=true"],
        toast_options: ["autovacuum_enabled=false"],
        owner_truncates: false,
        owner_deletes: true,
        priority_default: "7",
        payload_options: ["n_distinct=100"],
        triggers: "_jobs_after_insert=O,_jobs_after_update=A",
        index_options: ["fillfactor=70"],
        index_comment: "the claim walks this",
        trigger_comment: "wakes workers",
        constraint_comment: "one row a job",
        clustered: true,
      },
    );
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
        "autovacuum_vacuum_insert_scale_factor=0.05",
        "autovacuum_vacuum_scale_factor=0.1",
        "fillfactor=50",
      ],
      "the operator's autovacuum settings (one changed, one reset) carry over; the fillfactor " +
        "is the migration's",
    );

    // PostgreSQL 18 keeps NOT NULL as named constraints; they keep pgwake's names (no suffix).
    const notNull = await admin<Array<{ conname: string }>>`
      select conname from pg_constraint
      where conrelid = ${`${s}._jobs`}::regclass and contype = 'n' order by 1`;
    if (notNull.length > 0) {
      assert.deepEqual(
        notNull.map((c) => c.conname),
        ["attempt", "created_at", "id", "payload", "priority", "queue", "run_at", "state"].map(
          (column) => `_jobs_${column}_not_null`,
        ),
      );
    }

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
  "migration 0011 refuses, naming them and changing nothing, what it cannot carry over",
  async (ctx) => {
    const { admin, schema } = ctx;
    const s = await schemaBefore0011(ctx);
    const added = `
      alter table ${s}._jobs alter column trace_context type varchar(300);
      create view ${s}.operator_counts as select queue, count(*) from ${s}.jobs group by queue;
      alter table ${s}._jobs add column tenant text;
      create index operator_tenant_idx on ${s}._jobs (tenant);
      create function ${s}.operator_audit() returns trigger language plpgsql
        as 'begin return null; end';
      create trigger operator_audit after delete on ${s}._jobs
        for each statement execute function ${s}.operator_audit();
      alter table ${s}._jobs enable row level security;
      create policy operator_tenants on ${s}._jobs using (tenant = current_user);
      create rule operator_no_delete as on delete to ${s}.jobs do instead nothing;
      create table ${s}.operator_snapshots (jobs ${s}._jobs[]);
      create table ${s}.operator_refs (t regclass default '${s}._jobs'::regclass);
      create table ${s}.stray_before_0011 (x int);
    `;
    await admin.unsafe(`
      insert into ${s}._queues (name) values ('q');
      insert into ${s}._jobs (queue, payload) values ('q', '1'), ('q', '2');
      ${added}
    `);
    const state = async () =>
      (
        await admin<Array<{ oid: number; version: number }>>`
          select ${`${s}._jobs`}::regclass::oid::int as oid,
                 (select max(version) from ${admin(schema)}._migration_log) as version`
      )[0];
    const before = await state();
    assert.equal(before!.version, BEFORE);

    await assert.rejects(migrate(admin, schema), (error: Error) => {
      assert.ok(error instanceof PgwakeError, String(error));
      for (const named of [
        /column tenant of table _jobs/,
        /index \S*operator_tenant_idx/,
        /policy operator_tenants on table \S*_jobs/,
        /row-level security on table _jobs/,
        /trigger operator_audit on table \S*_jobs/,
        /view \S*operator_counts/,
        /rule operator_no_delete on view \S*jobs/,
        /column jobs of table \S*operator_snapshots/,
        /default value for column t of table \S*operator_refs/,
        /table \S*stray_before_0011, which exists already/,
        /column trace_context of table _jobs as changed \(character varying\(300\) null\)/,
        /Drop them, run the migration \(npx pgwake migrate\), and make them again/,
      ]) {
        assert.match(error.message, named);
      }
      return true;
    });
    assert.deepEqual(await state(), before, "the same table, still at migration 0010");
    const counts = await admin<Array<{ count: number }>>`
      select count::int from ${admin(schema)}.operator_counts`;
    assert.deepEqual([...counts], [{ count: 2 }], "the operator's view still reads the jobs");

    await admin.unsafe(`
      drop view ${s}.operator_counts;
      drop policy operator_tenants on ${s}._jobs;
      alter table ${s}._jobs disable row level security;
      drop trigger operator_audit on ${s}._jobs;
      alter table ${s}._jobs drop column tenant;
      drop rule operator_no_delete on ${s}.jobs;
      drop table ${s}.operator_snapshots;
      drop table ${s}.operator_refs;
      drop table ${s}.stray_before_0011;
      alter table ${s}._jobs alter column trace_context type text;
    `);
    assert.ok((await migrate(admin, schema)).applied.includes(11), "once they are gone, it runs");
  },
);

dbTest(
  "migration 0011 refuses a role that neither owns the jobs table nor is a superuser",
  async (ctx) => {
    const { admin, schema } = ctx;
    const s = await schemaBefore0011(ctx);
    // A role that may use and create in the schema and read and write its tables, but is neither
    // that owner nor a superuser: the new table would be its own, and the owner's access lost.
    const migrator = `${schema}_migrator`;
    await admin.unsafe(`
      create role "${migrator}" nologin;
      grant usage, create on schema ${s} to "${migrator}";
      grant all on all tables in schema ${s} to "${migrator}";
    `);
    ctx.defer(() => admin.unsafe(`drop owned by "${migrator}"; drop role if exists "${migrator}"`));
    ctx.defer(() => admin.unsafe(`drop schema if exists ${s} cascade`));
    const asMigrator = ctx.pool({ max: 1, connection: { role: migrator } }).sql;
    const [{ who }] = await asMigrator<[{ who: string }]>`select current_user as who`;
    assert.equal(who, migrator);

    await assert.rejects(migrate(asMigrator, schema), (error: Error) => {
      assert.ok(error instanceof PgwakeError, String(error));
      assert.match(
        error.message,
        /ownership of \S*_jobs by role \S+ \(run the migration as that role, or as a superuser\)/,
      );
      return true;
    });
    assert.ok((await migrate(admin, schema)).applied.includes(11), "the owner migrates it");
  },
);
