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
-- constraints, triggers and the `jobs` view over it again, with their names and definitions of
-- migrations 0001-0010 (test/schema.snapshot.sql checks them), and carries over what an operator
-- set on the table and the view. What it cannot carry over, it refuses before changing anything.
--
-- Names, types, defaults and behaviour are unchanged, and no statement of any release reads the
-- table by position (`select *`), so every older client keeps working: their prepared statements
-- and PL/pgSQL plans are planned again against the new table (the line above).

-- The copy may take a while: timeouts set for the role or database must not cut it.
set local statement_timeout = 0;
do $$
begin
  if current_setting('server_version_num')::int >= 170000 then
    perform set_config('transaction_timeout', '0', true);
  end if;
end
$$;

-- What this migration cannot carry over, it refuses before taking any lock, naming each thing, so
-- that nothing is lost in silence and no replica waits for a copy that would fail at its end:
-- columns, indexes, triggers, rules, policies, extended statistics or publications an operator
-- added to `_jobs` or `jobs`, an inherited parent, and whatever else depends on the table or the
-- view or their row types (views, functions, foreign keys, inheriting tables, columns of those
-- types). It must run as the owner of both, or as a superuser, so that the new ones get the same
-- owner and privileges. What pgwake made, and what the next block lists, it makes again.
do $$
declare
  schema_name constant text := /*literal:schema*/'pgwake';
  jobs_table constant regclass := format('%I._jobs', schema_name)::regclass;
  jobs_view constant regclass := format('%I.jobs', schema_name)::regclass;
  row_types oid[];
  found_list text;
begin
  select array_agg(t.oid) || array_agg(t.typarray) into row_types
  from pg_type t where t.typrelid in (jobs_table, jobs_view);

  -- pgwake's columns as 0001-0010 made them (name, type, NOT NULL): the column checks below and
  -- the names of PostgreSQL 18's NOT NULL constraints come from this one list.
  with expected(name, type, not_null) as (
    values ('id', 'uuid'::regtype, true), ('queue', 'text', true),
           ('priority', 'integer', true), ('run_at', 'timestamptz', true),
           ('created_at', 'timestamptz', true), ('max_attempts', 'integer', false),
           ('key', 'text', false), ('after', 'uuid[]', false),
           ('trace_context', 'text', false), ('attributes', 'jsonb', false),
           ('payload', 'jsonb', true), ('attempt', 'integer', true),
           ('lease_token', 'uuid', false), ('leased_by', 'text', false),
           ('started_at', 'timestamptz', false),
           ('state', format('%I.job_state', schema_name)::regtype, true),
           ('lease_expires_at', 'timestamptz', false), ('result', 'jsonb', false),
           ('errors', 'jsonb', false), ('finished_at', 'timestamptz', false)
  )
  select string_agg(distinct what, '; ' order by what) into found_list from (
    select coalesce(
             -- a view's rule: the view itself
             (select pg_describe_object('pg_class'::regclass, r.ev_class, 0) from pg_rewrite r
              where d.classid = 'pg_rewrite'::regclass and r.oid = d.objid
                and r.rulename = '_RETURN'),
             pg_describe_object(d.classid, d.objid, d.objsubid)) as what
    from pg_depend d
    where d.deptype in ('n', 'a')
      and ((d.refclassid = 'pg_class'::regclass and d.refobjid in (jobs_table, jobs_view))
           or (d.refclassid = 'pg_type'::regclass and d.refobjid = any (row_types)))
      -- pgwake's own: its indexes, constraints, triggers, column defaults, and the view's rule
      and not (d.classid = 'pg_class'::regclass and d.objid in (
                 select i.indexrelid from pg_index i join pg_class c on c.oid = i.indexrelid
                 where i.indrelid = jobs_table and c.relname in (
                   '_jobs_pkey', '_jobs_claim_idx', '_jobs_scheduled_idx', '_jobs_running_idx',
                   '_jobs_finished_idx', '_jobs_key_idx', '_jobs_waiting_after_idx',
                   '_jobs_waiting_idx', '_jobs_attributes_idx', '_jobs_failed_idx')))
      and not (d.classid = 'pg_constraint'::regclass and d.objid in (
                 select c.oid from pg_constraint c
                 where c.conrelid = jobs_table
                   and (c.conname in ('_jobs_pkey', '_jobs_max_attempts_check')
                        -- PostgreSQL 18's NOT NULL constraints
                        or c.conname in (select format('_jobs_%s_not_null', e.name)
                                         from expected e where e.not_null))))
      and not (d.classid = 'pg_trigger'::regclass and d.objid in (
                 select t.oid from pg_trigger t
                 where t.tgrelid = jobs_table
                   and t.tgname in ('_jobs_after_insert', '_jobs_after_update')))
      and not (d.classid = 'pg_attrdef'::regclass and d.objid in (  -- carried over below
                 select a.oid from pg_attrdef a where a.adrelid in (jobs_table, jobs_view)))
      and not (d.classid = 'pg_rewrite'::regclass and d.objid in (
                 select r.oid from pg_rewrite r
                 where r.ev_class = jobs_view and r.rulename = '_RETURN'))
    union all
    select format('column %I of table _jobs', a.attname)
    from pg_attribute a
    where a.attrelid = jobs_table and a.attnum > 0 and not a.attisdropped
      and a.attname not in (select e.name from expected e)
    union all
    select format('the missing column %I of table _jobs', e.name)
    from expected e
    where not exists (select from pg_attribute a
                      where a.attrelid = jobs_table and a.attname = e.name and not a.attisdropped)
    union all
    select format('%s, which table _jobs inherits from', i.inhparent::regclass)
    from pg_inherits i where i.inhrelid = jobs_table
    union all
    select 'row-level security on table _jobs' from pg_class
    where oid = jobs_table and (relrowsecurity or relforcerowsecurity)
    union all
    -- a pgwake column changed since: its type, collation or NOT NULL, or made identity or generated
    select format('column %I of table _jobs as changed (%s%s%s)', a.attname,
                  format_type(a.atttypid, a.atttypmod),
                  case when a.attnotnull then ' not null' else ' null' end,
                  case when a.attidentity <> '' then ', identity'
                       when a.attgenerated <> '' then ', generated'
                       when a.attcollation <> t.typcollation then ', collation'
                       else '' end)
    from pg_attribute a
    join pg_type t on t.oid = a.atttypid
    join expected on expected.name = a.attname
    where a.attrelid = jobs_table and not a.attisdropped
      and (a.atttypid <> expected.type or a.atttypmod <> -1 or a.attnotnull <> expected.not_null
           or a.attidentity <> '' or a.attgenerated <> '' or a.attcollation <> t.typcollation)
    union all
    select 'a table access method other than heap on table _jobs' from pg_class c
    where c.oid = jobs_table and c.relam <> (select oid from pg_am where amname = 'heap')
    union all
    select format('%s, which exists already (rename it for the migration)',
                  pg_describe_object('pg_class'::regclass, c.oid, 0))
    from pg_class c
    where c.relnamespace = quote_ident(schema_name)::regnamespace
      and right(c.relname, 12) = '_before_0011'
    union all
    select format('CREATE on %s for role %s', what, current_user)
    from (select format('schema %I', schema_name) as what
          where not has_schema_privilege(quote_ident(schema_name)::regnamespace, 'CREATE')
          union all
          select distinct format('tablespace %I', t.spcname)
          from pg_class c join pg_tablespace t on t.oid = c.reltablespace
          where (c.oid = jobs_table
                 or c.oid in (select indexrelid from pg_index where indrelid = jobs_table))
            and not has_tablespace_privilege(t.oid, 'CREATE')) missing
    union all
    select 'UNLOGGED (set it LOGGED for the migration)' from pg_class
    where oid = jobs_table and relpersistence <> 'p'
    union all
    select 'REPLICA IDENTITY USING INDEX on table _jobs' from pg_class
    where oid = jobs_table and relreplident = 'i'
    union all
    select format('ownership of %s by role %s (run the migration as that role, or as a superuser)',
                  c.oid::regclass, pg_get_userbyid(c.relowner))
    from pg_class c
    where c.oid in (jobs_table, jobs_view)
      and c.relowner <> (select oid from pg_roles where rolname = current_user)
      and not (select rolsuper from pg_roles where rolname = current_user)
  ) found;
  if found_list is not null then
    raise exception 'pgwake migration 0011 makes the jobs table of schema % again, and cannot '
                    'carry these over: %. Drop them, run the migration (npx pgwake migrate), and '
                    'make them again (docs/upgrades.md, "Migration 0011 rewrites the jobs table")',
      schema_name, found_list;
  end if;
end
$$;

-- The old view and table step aside under other names, the view first: readers of `jobs` lock it
-- before the table, and taking them in the other order could deadlock with one. So do the old
-- indexes (and with the primary key's, its constraint), so that the new ones can be made before
-- the old ones are dropped and what was set on them read from them.
alter view /*schema*/jobs rename to jobs_before_0011;
lock table /*schema*/_jobs in access exclusive mode;
alter table /*schema*/_jobs rename to _jobs_before_0011;
do $$
declare
  schema_name constant text := /*literal:schema*/'pgwake';
  index_name name;
begin
  for index_name in
    select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid
    where i.indrelid = format('%I._jobs_before_0011', schema_name)::regclass
  loop
    execute format('alter index %I.%I rename to %I', schema_name, index_name,
                   index_name || '_before_0011');
  end loop;
  -- The new table and its indexes go where the old table was, for this transaction.
  perform set_config('default_tablespace',
                     coalesce((select t.spcname from pg_class c
                               join pg_tablespace t on t.oid = c.reltablespace
                               where c.oid = format('%I._jobs_before_0011',
                                                    schema_name)::regclass), ''),
                     true);
end
$$;

-- No storage settings yet: the old table's are carried over below, after the finished jobs were
-- copied at fillfactor 100. NOT NULL constraints are named as before (PostgreSQL 18 names them;
-- older versions ignore the name).
create table /*schema*/_jobs (
  -- Set when the job is made; no update of a normal job's life changes them.
  id               uuid constraint _jobs_id_not_null not null default /*schema*/uuid_v7(),
  queue            text constraint _jobs_queue_not_null not null,
  priority         integer constraint _jobs_priority_not_null not null default 0,
  -- changed only by a retry's delay
  run_at           timestamptz constraint _jobs_run_at_not_null not null default now(),
  created_at       timestamptz constraint _jobs_created_at_not_null not null default now(),
  max_attempts     integer constraint _jobs_max_attempts_check check (max_attempts >= 1),
  key              text,
  after            uuid[],
  trace_context    text,
  attributes       jsonb,
  payload          jsonb constraint _jobs_payload_not_null not null,
  -- Changed by a claim (all of them) and by nothing after it until the next claim.
  attempt          integer constraint _jobs_attempt_not_null not null default 0,
  lease_token      uuid,
  leased_by        text,
  started_at       timestamptz,
  -- Changed by the claim and by the ack or failure that ends the attempt.
  state            /*schema*/job_state constraint _jobs_state_not_null not null default 'queued',
  lease_expires_at timestamptz,
  result           jsonb,
  errors           jsonb,
  finished_at      timestamptz
) using heap;

-- Finished jobs first, packed full: no update will come for them. Then the fillfactor, and the
-- unfinished ones, each in the old physical order (insertion order, so neighbours stay
-- neighbours).
insert into /*schema*/_jobs (
  id, queue, priority, run_at, created_at, max_attempts, key, after, trace_context, attributes,
  payload, attempt, lease_token, leased_by, started_at, state, lease_expires_at, result, errors,
  finished_at)
select id, queue, priority, run_at, created_at, max_attempts, key, after, trace_context,
       attributes, payload, attempt, lease_token, leased_by, started_at, state, lease_expires_at,
       result, errors, finished_at
from /*schema*/_jobs_before_0011
where state in ('completed', 'failed', 'cancelled');

alter table /*schema*/_jobs set (fillfactor = 50);

insert into /*schema*/_jobs (
  id, queue, priority, run_at, created_at, max_attempts, key, after, trace_context, attributes,
  payload, attempt, lease_token, leased_by, started_at, state, lease_expires_at, result, errors,
  finished_at)
select id, queue, priority, run_at, created_at, max_attempts, key, after, trace_context,
       attributes, payload, attempt, lease_token, leased_by, started_at, state, lease_expires_at,
       result, errors, finished_at
from /*schema*/_jobs_before_0011
where state not in ('completed', 'failed', 'cancelled');

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

create view /*schema*/jobs as
  select j.id, j.queue,
         case when j.state in ('scheduled', 'waiting') then 'queued' else j.state::text end as state,
         j.priority, j.run_at, j.payload, j.attributes, j.attempt,
         coalesce(j.max_attempts, q.max_attempts) as max_attempts,
         j.result, j.errors, j.leased_by, j.lease_expires_at,
         j.created_at, j.started_at, j.finished_at, j.key, j.after
  from /*schema*/_jobs j
  left join /*schema*/_queues q on q.name = j.queue;

-- What was set on the old table, view, indexes, triggers and constraints carries over to the new
-- ones: storage settings (the table's fillfactor excepted: it is what this migration is about),
-- the toast table's, the view's and the indexes' too; replica identity; comments; column
-- defaults, statistics targets, options, storage and compression; which triggers are enabled;
-- the index the table is clustered on and the indexes' tablespaces; and the owner and the
-- privileges exactly as they were (table, view and columns; whatever default privileges gave the
-- new objects is taken back first). Grants are made again by the owner.
do $$
declare
  schema_name constant text := /*literal:schema*/'pgwake';
  pair record;
  item record;
  options text;
  new_rel regclass;
  old_rel regclass;
  -- where an object whose tablespace is 0 lives
  database_tablespace constant oid :=
    (select dattablespace from pg_database where datname = current_database());
begin
  for pair in
    select p.kind, format('%I.%I', schema_name, p.old)::regclass as old_rel,
           format('%I.%I', schema_name, p.new)::regclass as new_rel
    from (values ('table', '_jobs_before_0011', '_jobs'), ('view', 'jobs_before_0011', 'jobs'))
           p(kind, old, new)
  loop
    old_rel := pair.old_rel;
    new_rel := pair.new_rel;

    -- The owner first (a superuser runs this; anyone else is the owner already).
    if (select relowner from pg_class where oid = old_rel)
         <> (select relowner from pg_class where oid = new_rel) then
      execute format('alter %s %s owner to %I', pair.kind, new_rel,
                     pg_get_userbyid((select relowner from pg_class where oid = old_rel)));
    end if;

    select string_agg(format('%I = %L', o.option_name, o.option_value), ', ') into options
    from pg_class c cross join lateral pg_options_to_table(c.reloptions) o
    where c.oid = old_rel and o.option_name <> 'fillfactor';
    if options is not null then
      execute format('alter %s %s set (%s)', pair.kind, new_rel, options);
    end if;
    if obj_description(old_rel, 'pg_class') is not null then
      execute format('comment on %s %s is %L', pair.kind, new_rel,
                     obj_description(old_rel, 'pg_class'));
    end if;

    if pair.kind = 'table' then
      select string_agg(format('toast.%I = %L', o.option_name, o.option_value), ', ')
        into options
      from pg_class c join pg_class t on t.oid = c.reltoastrelid
      cross join lateral pg_options_to_table(t.reloptions) o
      where c.oid = old_rel;
      if options is not null then
        execute format('alter table %s set (%s)', new_rel, options);
      end if;
      case (select relreplident from pg_class where oid = old_rel)
        when 'f' then execute format('alter table %s replica identity full', new_rel);
        when 'n' then execute format('alter table %s replica identity nothing', new_rel);
        else null;  -- the default (the primary key); USING INDEX was refused above
      end case;
    end if;

    -- Columns, by name.
    for item in
      select a.attname, col_description(old_rel, a.attnum) as comment,
             nullif(a.attstattarget::int, -1) as stattarget,
             a.attstorage, n.attstorage as new_storage,
             array_to_string(a.attoptions, ', ') as attoptions,
             pg_get_expr(od.adbin, od.adrelid) as old_default,
             pg_get_expr(nd.adbin, nd.adrelid) as new_default
      from pg_attribute a
      join pg_attribute n on n.attrelid = new_rel and n.attname = a.attname
      left join pg_attrdef od on od.adrelid = old_rel and od.adnum = a.attnum
      left join pg_attrdef nd on nd.adrelid = new_rel and nd.adnum = n.attnum
      where a.attrelid = old_rel and a.attnum > 0 and not a.attisdropped
    loop
      if item.comment is not null then
        execute format('comment on column %s.%I is %L', new_rel, item.attname, item.comment);
      end if;
      if item.old_default is distinct from item.new_default then
        if item.old_default is null then
          execute format('alter %s %s alter column %I drop default', pair.kind, new_rel,
                         item.attname);
        else
          execute format('alter %s %s alter column %I set default %s', pair.kind, new_rel,
                         item.attname, item.old_default);
        end if;
      end if;
      continue when pair.kind <> 'table';
      if item.stattarget is not null then
        execute format('alter table %s alter column %I set statistics %s', new_rel, item.attname,
                       item.stattarget);
      end if;
      if item.attstorage <> item.new_storage then
        execute format('alter table %s alter column %I set storage %s', new_rel, item.attname,
                       case item.attstorage when 'p' then 'plain' when 'e' then 'external'
                                            when 'm' then 'main' else 'extended' end);
      end if;
      if item.attoptions is not null then
        execute format('alter table %s alter column %I set (%s)', new_rel, item.attname,
                       item.attoptions);
      end if;
    end loop;
    -- Column compression, from PostgreSQL 14 (the catalog column does not exist before).
    if pair.kind = 'table' and current_setting('server_version_num')::int >= 140000 then
      for item in execute
        'select a.attname, a.attcompression::text as compression from pg_attribute a
         where a.attrelid = $1 and a.attnum > 0 and not a.attisdropped
           and a.attcompression <> ''''::"char"' using old_rel
      loop
        execute format('alter table %s alter column %I set compression %s', new_rel,
                       item.attname, case item.compression when 'l' then 'lz4' else 'pglz' end);
      end loop;
    end if;

    -- Privileges exactly as they were, the owner's included: every entry of the new object is
    -- taken back, then every entry of the old one given (no entries yet means the defaults).
    for item in
      select distinct case when a.grantee = 0 then 'public'
                           else quote_ident(pg_get_userbyid(a.grantee)) end as grantee
      from pg_class c cross join lateral aclexplode(coalesce(c.relacl,
                                                             acldefault('r', c.relowner))) a
      where c.oid = new_rel
    loop
      execute format('revoke all on %s from %s', new_rel, item.grantee);
    end loop;
    for item in
      select a.privilege_type, a.is_grantable, null::name as column_name,
             case when a.grantee = 0 then 'public'
                  else quote_ident(pg_get_userbyid(a.grantee)) end as grantee
      from pg_class c cross join lateral aclexplode(coalesce(c.relacl,
                                                             acldefault('r', c.relowner))) a
      where c.oid = old_rel
      union all
      select a.privilege_type, a.is_grantable, att.attname,
             case when a.grantee = 0 then 'public'
                  else quote_ident(pg_get_userbyid(a.grantee)) end
      from pg_attribute att cross join lateral aclexplode(att.attacl) a
      where att.attrelid = old_rel and att.attnum > 0 and not att.attisdropped
    loop
      execute format('grant %s%s on %s to %s%s', item.privilege_type,
                     case when item.column_name is null then ''
                          else format(' (%I)', item.column_name) end,
                     new_rel, item.grantee,
                     case when item.is_grantable then ' with grant option' else '' end);
    end loop;
  end loop;

  old_rel := format('%I._jobs_before_0011', schema_name)::regclass;
  new_rel := format('%I._jobs', schema_name)::regclass;
  -- The indexes, by name: storage settings, comments, the one the table is clustered on, and
  -- their tablespace where it is not the table's.
  for item in
    select n.indexrelid::regclass as new_index, o.indisclustered,
           array_to_string(oc.reloptions, ', ') as options,
           obj_description(o.indexrelid, 'pg_class') as comment,
           (select spcname from pg_tablespace
              where oid = coalesce(nullif(oc.reltablespace, 0), database_tablespace))
             as tablespace,
           coalesce(nullif(oc.reltablespace, 0), database_tablespace)
             <> coalesce(nullif(nc.reltablespace, 0), database_tablespace) as moved
    from pg_index o
    join pg_class oc on oc.oid = o.indexrelid
    join pg_class nc on nc.relname = replace(oc.relname, '_before_0011', '')
                    and nc.relnamespace = oc.relnamespace
    join pg_index n on n.indexrelid = nc.oid and n.indrelid = new_rel
    where o.indrelid = old_rel
  loop
    if item.options is not null then
      execute format('alter index %s set (%s)', item.new_index, item.options);
    end if;
    if item.comment is not null then
      execute format('comment on index %s is %L', item.new_index, item.comment);
    end if;
    if item.indisclustered then
      execute format('alter table %s cluster on %I', new_rel,
                     (select relname from pg_class where oid = item.new_index));
    end if;
    if item.moved then
      execute format('alter index %s set tablespace %I', item.new_index, item.tablespace);
    end if;
  end loop;
  -- The triggers and constraints, by name: enabled or not, and comments.
  for item in
    select o.tgname, o.tgenabled, obj_description(o.oid, 'pg_trigger') as comment
    from pg_trigger o where o.tgrelid = old_rel and not o.tgisinternal
  loop
    execute format('alter table %s %s trigger %I', new_rel,
                   case item.tgenabled when 'D' then 'disable' when 'A' then 'enable always'
                                       when 'R' then 'enable replica' else 'enable' end,
                   item.tgname);
    if item.comment is not null then
      execute format('comment on trigger %I on %s is %L', item.tgname, new_rel, item.comment);
    end if;
  end loop;
  for item in
    select o.conname, obj_description(o.oid, 'pg_constraint') as comment
    from pg_constraint o
    where o.conrelid = old_rel and obj_description(o.oid, 'pg_constraint') is not null
  loop
    execute format('comment on constraint %I on %s is %L',
                   replace(item.conname, '_before_0011', ''), new_rel, item.comment);
  end loop;
end
$$;

drop view /*schema*/jobs_before_0011;
drop table /*schema*/_jobs_before_0011;

-- Statistics now, not at autovacuum's next visit: listings and counts plan by them. Not for an
-- empty table (a new schema): its first statistics should come from jobs, not from nothing.
do $$
begin
  if exists (select from /*schema*/_jobs) then
    analyze /*schema*/_jobs;
  end if;
end
$$;
