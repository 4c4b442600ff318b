-- pgwake 0001: queues, jobs, and the triggers that wake workers and completion handles.
--
-- Template tokens (replaced once, when the file is loaded, so the file stays valid SQL):
--   /*schema*/name                  → "<schema>".name
--   /*literal:channel:ready*/'...'  → the NOTIFY channel name as a string literal
--
-- Job states. Public names are queued | running | completed | failed | cancelled; internally a
-- queued job whose run_at is still in the future is 'scheduled', and one whose dependencies
-- (`after`) have not all completed is 'waiting', so that the claim index holds only jobs that can
-- run now and a claim never steps over delayed or blocked ones.
--
--   send ──► waiting ──(every dependency completed)──► queued | scheduled
--   send ──► scheduled ──(run_at reached: promoted by a consumer's due timer)──► queued
--   send ──► queued ──claim──► running ──ack──► completed
--                                  │ ├─nack / lease expired, attempts left──► queued | scheduled
--                                  │ └─nack / lease expired, last attempt──► failed (→ dead letter)
--   waiting | scheduled | queued | running ──cancel──► cancelled (a dependency failing cancels too)
--   failed | cancelled ──retry──► queued

create type /*schema*/job_state as enum
  ('waiting', 'scheduled', 'queued', 'running', 'completed', 'failed', 'cancelled');

create table /*schema*/_queues (
  name             text primary key,
  max_attempts     integer not null default 5 check (max_attempts >= 1),
  backoff_delay_ms bigint not null default 1000 check (backoff_delay_ms >= 0),
  backoff_factor   double precision not null default 2 check (backoff_factor >= 1),
  backoff_max_ms   bigint not null default 3600000 check (backoff_max_ms >= 0),
  lease_ms         bigint not null default 30000 check (lease_ms > 0),
  max_size         integer check (max_size >= 1),
  dead_letter      text,
  retention_ms     bigint not null default 604800000 check (retention_ms >= 0),
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now()
);

-- UUIDv7 (time-ordered) for rows inserted by SQL; the Node client makes the same kind itself so a
-- producer knows a job's id before its insert commits.
create function /*schema*/uuid_v7() returns uuid
language sql volatile parallel safe as $$
  select encode(
    set_bit(set_bit(
      overlay(uuid_send(gen_random_uuid())
              placing substring(int8send(floor(extract(epoch from clock_timestamp()) * 1000)::bigint) from 3)
              from 1 for 6),
      52, 1), 53, 1),
    'hex')::uuid
$$;

-- No foreign keys: a key-share lock on the queue row for every insert would make all producers of
-- a queue contend on one row. Queue existence is checked by the insert statement itself.
create table /*schema*/_jobs (
  id               uuid primary key default /*schema*/uuid_v7(),
  queue            text not null,
  state            /*schema*/job_state not null default 'queued',
  priority         integer not null default 0,
  run_at           timestamptz not null default now(),
  payload          jsonb not null,
  attributes       jsonb,
  attempt          integer not null default 0,
  max_attempts     integer check (max_attempts >= 1),  -- null: the queue's
  lease_token      uuid,
  lease_expires_at timestamptz,
  leased_by        text,
  result           jsonb,
  errors           jsonb,                                -- one entry per failed attempt
  created_at       timestamptz not null default now(),
  started_at       timestamptz,
  finished_at      timestamptz
) with (
  -- The table churns: every job is inserted and updated at least twice. Vacuum early and often
  -- so dead tuples stay few and index-only scans (stats) stay index-only.
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_vacuum_insert_scale_factor = 0.05,
  autovacuum_analyze_scale_factor = 0.02
);

-- The claim: runnable jobs of one queue, highest priority first, FIFO within a priority.
-- Partial, so finished and delayed jobs never appear in it however many there are.
create index _jobs_claim_idx on /*schema*/_jobs (queue, priority desc, run_at, id)
  where state = 'queued';
-- The next delayed job of a queue (promotion, and the consumers' due timers).
create index _jobs_scheduled_idx on /*schema*/_jobs (queue, run_at)
  where state = 'scheduled';
-- Expired leases of a queue (rescue, and the next lease deadline).
create index _jobs_running_idx on /*schema*/_jobs (queue, lease_expires_at)
  where state = 'running';
-- Finished jobs of a queue, oldest first (stats, listings, retention). Partial like the others:
-- an index on (queue, state) covering all jobs would also match the claim's condition, and a
-- planner without statistics yet (a table filled before its first ANALYZE) then picks it and
-- sorts every queued job on each claim. No index but _jobs_claim_idx may match queued jobs.
create index _jobs_finished_idx on /*schema*/_jobs (queue, finished_at) include (state)
  where state in ('completed', 'failed', 'cancelled');

-- Wakes the consumers of a queue: `n` jobs can run now, and the first delayed one is due at `at`
-- (Unix milliseconds, database clock), `in` milliseconds after this trigger ran. Jobs are
-- announced once per statement and queue, never once per row: a per-row NOTIFY makes every
-- insert wait on the server-wide notify lock at commit.
create function /*schema*/_notify_ready(queue text, ready bigint, next_run_at timestamptz)
returns void
language sql volatile as $$
  select pg_notify(/*literal:channel:ready*/'pgwake:ready', json_build_object(
    'q', queue,
    'n', ready,
    'at', floor(extract(epoch from next_run_at) * 1000),
    'in', case when next_run_at is not null
               then greatest(0, ceil(extract(epoch from next_run_at - clock_timestamp()) * 1000)) end
  )::text)
$$;

create function /*schema*/_jobs_after_insert() returns trigger
language plpgsql as $$
begin
  perform /*schema*/_notify_ready(queue, count(*) filter (where state = 'queued'),
                                  min(run_at) filter (where state = 'scheduled'))
  from inserted
  where state in ('queued', 'scheduled')
  group by queue;
  return null;
end
$$;

create trigger _jobs_after_insert
  after insert on /*schema*/_jobs
  referencing new table as inserted
  for each statement execute function /*schema*/_jobs_after_insert();

-- Updated jobs. Claims and heartbeats (the hot path) only ever produce 'running' rows, so one
-- scan of the new rows lets them return at once. Otherwise:
--  * jobs that became queued or scheduled (retry, rescue, promotion, release) wake consumers;
--  * jobs that finished wake completion handles and the consumer holding them: their ids, per
--    queue and state, 150 to a NOTIFY to stay well under the 8000-byte payload limit;
--  * jobs that failed for good are copied, payload and attributes, to their dead-letter queue.
create function /*schema*/_jobs_after_update() returns trigger
language plpgsql as $$
declare
  r record;
  any_ready boolean;
  any_done boolean;
  any_failed boolean;
begin
  select bool_or(state in ('queued', 'scheduled')),
         bool_or(state in ('completed', 'failed', 'cancelled')),
         bool_or(state = 'failed')
    into any_ready, any_done, any_failed
    from updated;

  if any_ready then
    perform /*schema*/_notify_ready(queue, count(*) filter (where state = 'queued'),
                                    min(run_at) filter (where state = 'scheduled'))
    from updated
    where state in ('queued', 'scheduled')
    group by queue;
  end if;

  if any_done then
    for r in
      select queue, state, json_agg(id) as ids
      from (
        select queue, state, id,
               (row_number() over (partition by queue, state) - 1) / 150 as chunk
        from updated
        where state in ('completed', 'failed', 'cancelled')
      ) finished
      group by queue, state, chunk
    loop
      perform pg_notify(/*literal:channel:done*/'pgwake:done', json_build_object(
        'q', r.queue,
        's', r.state,
        'ids', r.ids
      )::text);
    end loop;
  end if;

  if any_failed then
    insert into /*schema*/_jobs (queue, payload, attributes)
    select q.dead_letter, n.payload, n.attributes
    from updated n
    join previous o on o.id = n.id
    join /*schema*/_queues q on q.name = n.queue
    where n.state = 'failed' and o.state <> 'failed' and q.dead_letter is not null;
  end if;

  return null;
end
$$;

create trigger _jobs_after_update
  after update on /*schema*/_jobs
  referencing old table as previous new table as updated
  for each statement execute function /*schema*/_jobs_after_update();

-- Stable views for people and tools reading the tables directly: public state names, effective
-- max_attempts. The tables behind them may change between versions; these keep their columns.
create view /*schema*/jobs as
  select j.id, j.queue,
         case when j.state in ('scheduled', 'waiting') then 'queued' else j.state::text end as state,
         j.priority, j.run_at, j.payload, j.attributes, j.attempt,
         coalesce(j.max_attempts, q.max_attempts) as max_attempts,
         j.result, j.errors, j.leased_by, j.lease_expires_at,
         j.created_at, j.started_at, j.finished_at
  from /*schema*/_jobs j
  left join /*schema*/_queues q on q.name = j.queue;

create view /*schema*/queues as
  select name, max_attempts, backoff_delay_ms, backoff_factor, backoff_max_ms, lease_ms,
         max_size, dead_letter, retention_ms, created_at, updated_at
  from /*schema*/_queues;
