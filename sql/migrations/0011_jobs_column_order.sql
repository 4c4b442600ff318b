-- pgwake: compatible
-- pgwake 0011: the jobs table's columns in the order its updates change them, and half of each
-- page kept free for them, so that their WAL records carry only what changed.
--
-- When an UPDATE's new row version lands on the page of the old one, PostgreSQL logs only the
-- bytes between the first and the last that differ (log_heap_update's prefix and suffix). Since
-- 0001, `state` was the third column and the lease, the result and the timestamps came after the
-- payload, so every claim and every ack logged the whole payload again. Here the columns no update
-- of a normal job's life changes come first, then those a claim changes (ending with `state`),
-- then those an ack or a failure changes; a heartbeat changes only `lease_expires_at`, in the
-- middle of the last group.
--
-- The order alone changes nothing while the new version goes to another page, which at the
-- default fillfactor of 100 is nearly always: a claim takes hundreds of neighbouring jobs, and a
-- full page has room for none of their new versions. With fillfactor 50 an insert leaves half of
-- the page free, the claim's versions land beside the jobs they replace, and the ack's land in
-- the room the insert's versions leave once pruned. Measured with bench/drain-profile.ts (private
-- PostgreSQL 15, 2 cores, 20,000 jobs, pgwake's defaults; README, Performance):
--   WAL per drained job, 20-byte payloads:  917-938 bytes before, 697-702 after (-25%)
--   WAL per drained job, 500-byte payloads: 1,972-1,977 before, 793-828 after (-59%)
--   heap each finished job keeps after a vacuum: 414 -> 359 bytes, 1,983 -> 1,651-1,739: smaller,
--     though inserts fill pages only half (at 100 the claims' versions fill pages of their own)
--   drain, bulk and one-at-a-time enqueue throughput and the wake-up under load: no change
--   beyond the runs' noise (bench harness, two passes; a 200,000-job drain, two runs).
--
-- Column order is fixed when a table is made, so this migration makes the table again: it copies
-- every row into a new `_jobs` under an ACCESS EXCLUSIVE lock (sends, claims and acks of every
-- replica wait for it: 3.6 s per million finished jobs with small payloads, 6.8 s with 500-byte
-- ones, on the machine above; docs/upgrades.md), then makes the indexes,
-- constraints, triggers, storage settings, grants and the `jobs` view over it again, with their
-- names and definitions of migrations 0001-0010 (test/schema.snapshot.sql checks them).
--
-- Names, types, defaults and behaviour are unchanged, and no statement of any release reads the
-- table by position (`select *`), so every older client keeps working: their prepared statements
-- and PL/pgSQL plans are planned again against the new table (the line above).

lock table /*schema*/_jobs in access exclusive mode;

-- Views of the operator's over `jobs` or `_jobs`, and foreign keys to it, would stop the old table
-- from being dropped below, with an error naming the renamed table. Say what and why instead.
do $$
declare
  schema_name constant text := /*literal:schema*/'pgwake';
  jobs_table constant regclass := format('%I._jobs', schema_name)::regclass;
  jobs_view constant regclass := format('%I.jobs', schema_name)::regclass;
  dependents text;
begin
  select string_agg(distinct what, ', ') into dependents from (
    select format('view %s', r.ev_class::regclass) as what
    from pg_depend d join pg_rewrite r on r.oid = d.objid
    where d.classid = 'pg_rewrite'::regclass and d.refclassid = 'pg_class'::regclass
      and d.refobjid in (jobs_table, jobs_view) and r.ev_class <> jobs_view
    union all
    select format('foreign key %I of %s', c.conname, c.conrelid::regclass)
    from pg_constraint c where c.confrelid = jobs_table
  ) found;
  if dependents is not null then
    raise exception 'pgwake migration 0011 makes the jobs table of schema % again, and these '
                    'depend on it: %. Drop them, run the migration (npx pgwake migrate), and '
                    'create them again (docs/upgrades.md, "Migration 0011 rewrites the jobs table")',
      schema_name, dependents;
  end if;
end
$$;

-- The old table and view step aside under other names; their indexes keep theirs until the old
-- table is dropped below, so the new ones are made after that.
alter table /*schema*/_jobs rename to _jobs_before_0011;
alter view /*schema*/jobs rename to jobs_before_0011;

create table /*schema*/_jobs (
  -- Set when the job is made; no update of a normal job's life changes them.
  id               uuid not null default /*schema*/uuid_v7(),
  queue            text not null,
  priority         integer not null default 0,
  run_at           timestamptz not null default now(),  -- changed only by a retry's delay
  created_at       timestamptz not null default now(),
  max_attempts     integer constraint _jobs_max_attempts_check check (max_attempts >= 1),
  key              text,
  after            uuid[],
  trace_context    text,
  attributes       jsonb,
  payload          jsonb not null,
  -- Changed by a claim (all of them) and by nothing after it until the next claim.
  attempt          integer not null default 0,
  lease_token      uuid,
  leased_by        text,
  started_at       timestamptz,
  -- Changed by the claim and by the ack or failure that ends the attempt.
  state            /*schema*/job_state not null default 'queued',
  lease_expires_at timestamptz,
  result           jsonb,
  errors           jsonb,
  finished_at      timestamptz
) with (
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_vacuum_insert_scale_factor = 0.05,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 0
);

-- Finished jobs first, packed full: no update will come for them. Then the fillfactor, and the
-- unfinished ones, each in the old physical order (insertion order, so neighbours stay
-- neighbours).
insert into /*schema*/_jobs (
  id, queue, priority, run_at, created_at, max_attempts, key, after, trace_context, attributes,
  payload, attempt, lease_token, leased_by, started_at, state, lease_expires_at, result, errors,
  finished_at)
select id, queue, priority, run_at, created_at, max_attempts, key, after, trace_context, attributes,
       payload, attempt, lease_token, leased_by, started_at, state, lease_expires_at, result, errors,
       finished_at
from /*schema*/_jobs_before_0011
where state in ('completed', 'failed', 'cancelled');

alter table /*schema*/_jobs set (fillfactor = 50);

insert into /*schema*/_jobs (
  id, queue, priority, run_at, created_at, max_attempts, key, after, trace_context, attributes,
  payload, attempt, lease_token, leased_by, started_at, state, lease_expires_at, result, errors,
  finished_at)
select id, queue, priority, run_at, created_at, max_attempts, key, after, trace_context, attributes,
       payload, attempt, lease_token, leased_by, started_at, state, lease_expires_at, result, errors,
       finished_at
from /*schema*/_jobs_before_0011
where state not in ('completed', 'failed', 'cancelled');

create view /*schema*/jobs as
  select j.id, j.queue,
         case when j.state in ('scheduled', 'waiting') then 'queued' else j.state::text end as state,
         j.priority, j.run_at, j.payload, j.attributes, j.attempt,
         coalesce(j.max_attempts, q.max_attempts) as max_attempts,
         j.result, j.errors, j.leased_by, j.lease_expires_at,
         j.created_at, j.started_at, j.finished_at, j.key, j.after
  from /*schema*/_jobs j
  left join /*schema*/_queues q on q.name = j.queue;

-- What an operator granted on the table and the view (a dashboard role reading `jobs`, say) holds
-- for the new ones, and they keep their owner when this role may give them to it. Storage settings
-- an operator changed on the table (autovacuum thresholds, say) carry over too, except the
-- fillfactor this migration is about.
do $$
declare
  schema_name constant text := /*literal:schema*/'pgwake';
  pair record;
  grant_row record;
  owner_name name;
  kept_options text;
begin
  select string_agg(format('%I = %L', o.option_name, o.option_value), ', ') into kept_options
  from pg_class c cross join lateral pg_options_to_table(c.reloptions) o
  where c.oid = format('%I.%I', schema_name, '_jobs_before_0011')::regclass
    and o.option_name <> 'fillfactor';
  if kept_options is not null then
    execute format('alter table %I._jobs set (%s)', schema_name, kept_options);
  end if;
  for pair in
    select * from (values ('_jobs_before_0011', '_jobs', 'table'),
                         ('jobs_before_0011', 'jobs', 'view')) p(old, new, kind)
  loop
    for grant_row in
      select a.privilege_type, a.is_grantable,
             case when a.grantee = 0 then 'public' else quote_ident(r.rolname) end as grantee
      from pg_class c
      cross join lateral aclexplode(c.relacl) a
      left join pg_roles r on r.oid = a.grantee
      where c.oid = format('%I.%I', schema_name, pair.old)::regclass
        and a.grantee <> c.relowner
    loop
      execute format('grant %s on %I.%I to %s%s', grant_row.privilege_type, schema_name, pair.new,
                     grant_row.grantee,
                     case when grant_row.is_grantable then ' with grant option' else '' end);
    end loop;
    select r.rolname into owner_name
    from pg_class c join pg_roles r on r.oid = c.relowner
    where c.oid = format('%I.%I', schema_name, pair.old)::regclass;
    if owner_name <> current_user and pg_has_role(current_user, owner_name, 'MEMBER') then
      execute format('alter %s %I.%I owner to %I', pair.kind, schema_name, pair.new, owner_name);
    end if;
  end loop;
end
$$;

drop view /*schema*/jobs_before_0011;
drop table /*schema*/_jobs_before_0011;

-- Made after the copy, each in one pass, as migrations 0001, 0002 and 0005 defined them.
alter table /*schema*/_jobs add constraint _jobs_pkey primary key (id);
create index _jobs_claim_idx on /*schema*/_jobs (queue, priority desc, run_at, id)
  where state = 'queued';
create index _jobs_scheduled_idx on /*schema*/_jobs (queue, run_at)
  where state = 'scheduled';
create index _jobs_running_idx on /*schema*/_jobs (queue, lease_expires_at)
  where state = 'running';
create index _jobs_finished_idx on /*schema*/_jobs (queue, finished_at) include (state)
  where state in ('completed', 'failed', 'cancelled');
create unique index _jobs_key_idx on /*schema*/_jobs (queue, key)
  where key is not null and state in ('waiting', 'scheduled', 'queued', 'running');
create index _jobs_waiting_after_idx on /*schema*/_jobs using gin (after)
  where state = 'waiting';
create index _jobs_waiting_idx on /*schema*/_jobs (queue) where state = 'waiting';
create index _jobs_attributes_idx on /*schema*/_jobs using gin (attributes jsonb_path_ops)
  where state in ('waiting', 'scheduled', 'queued') and attributes is not null;
create index _jobs_failed_idx on /*schema*/_jobs (queue, id) where state in ('failed', 'cancelled');

create trigger _jobs_after_insert
  after insert on /*schema*/_jobs
  referencing new table as inserted
  for each statement execute function /*schema*/_jobs_after_insert();
create trigger _jobs_after_update
  after update on /*schema*/_jobs
  referencing old table as previous new table as updated
  for each statement execute function /*schema*/_jobs_after_update();

-- Statistics now, not at autovacuum's next visit: listings and counts plan by them. Not for an
-- empty table (a new schema): its first statistics should come from jobs, not from nothing.
do $$
begin
  if exists (select from /*schema*/_jobs) then
    analyze /*schema*/_jobs;
  end if;
end
$$;
