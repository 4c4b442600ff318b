-- Runtime statements on queues. Loaded by src/db/queries.ts; see job.sql for the conventions.

-- name: upsertQueue
-- createQueue is declarative: every option not given goes back to its default. A dead-letter
-- queue that does not exist yet is created with defaults.
with dead_letter as (
  insert into /*schema*/_queues (name)
  select $8::text
  where $8::text is not null
  on conflict (name) do nothing
)
insert into /*schema*/_queues as q
  (name, max_attempts, backoff_delay_ms, backoff_factor, backoff_max_ms, lease_ms, max_size,
   dead_letter, retention_ms)
values ($1::text, $2::integer, $3::bigint, $4::double precision, $5::bigint, $6::bigint,
        $7::integer, $8::text, $9::bigint)
on conflict (name) do update
set max_attempts = excluded.max_attempts,
    backoff_delay_ms = excluded.backoff_delay_ms,
    backoff_factor = excluded.backoff_factor,
    backoff_max_ms = excluded.backoff_max_ms,
    lease_ms = excluded.lease_ms,
    max_size = excluded.max_size,
    dead_letter = excluded.dead_letter,
    retention_ms = excluded.retention_ms,
    updated_at = now()
returning name;

-- name: getQueue
select name, max_attempts, backoff_delay_ms, backoff_factor, backoff_max_ms, lease_ms, max_size,
       dead_letter, retention_ms, created_at, updated_at
from /*schema*/_queues
where name = $1::text;

-- name: queueRetentions
select name, retention_ms from /*schema*/_queues;

-- name: listQueues
-- Every queue with its options and its jobs counted by internal state. Each count reads its own
-- partial index, as queueStats does; finished jobs are counted in _jobs_finished_idx, which
-- retention keeps bounded.
select q.name, q.max_attempts, q.backoff_delay_ms, q.backoff_factor, q.backoff_max_ms,
       q.lease_ms, q.max_size, q.dead_letter, q.retention_ms, q.created_at, q.updated_at,
       (select count(*) from /*schema*/_jobs where queue = q.name and state = 'queued') as queued,
       (select count(*) from /*schema*/_jobs where queue = q.name and state = 'waiting') as waiting,
       (select count(*) from /*schema*/_jobs where queue = q.name and state = 'scheduled') as scheduled,
       (select count(*) from /*schema*/_jobs where queue = q.name and state = 'running') as running,
       f.completed, f.failed, f.cancelled
from /*schema*/_queues q
cross join lateral (
  select count(*) filter (where state = 'completed') as completed,
         count(*) filter (where state = 'failed') as failed,
         count(*) filter (where state = 'cancelled') as cancelled
  from /*schema*/_jobs
  where queue = q.name and state in ('completed', 'failed', 'cancelled')) f
where $1::text is null or q.name = $1::text
order by q.name;

-- name: deleteQueue
-- Deletes a queue and its finished jobs, only when nothing would be left dangling: no unfinished
-- job, no schedule sending to it, no other queue dead-lettering into it. The row lock makes a
-- concurrent upsert wait. Returns why not, or 'deleted'; no row when the queue does not exist.
-- Each check probes one partial index, and the delete reads _jobs_finished_idx
-- (docs/operator-explain.md); it deletes the finished jobs in one statement.
with target as (
  select name from /*schema*/_queues where name = $1::text for update
), blocker as (
  select case
    when exists (select 1 from /*schema*/_jobs where queue = $1::text and state = 'queued')
      or exists (select 1 from /*schema*/_jobs where queue = $1::text and state = 'running')
      or exists (select 1 from /*schema*/_jobs where queue = $1::text and state = 'scheduled')
      or exists (select 1 from /*schema*/_jobs where queue = $1::text and state = 'waiting')
      then 'unfinished jobs'
    when exists (select 1 from /*schema*/_schedules where queue = $1::text)
      then 'a schedule'
    when exists (select 1 from /*schema*/_queues where dead_letter = $1::text and name <> $1::text)
      then 'a queue dead-lettering into it'
  end as reason
), jobs_gone as (
  delete from /*schema*/_jobs
  where queue = $1::text and state in ('completed', 'failed', 'cancelled')
    and (select reason from blocker) is null and exists (select 1 from target)
), queue_gone as (
  delete from /*schema*/_queues
  where name in (select name from target) and (select reason from blocker) is null
  returning name
)
select coalesce((select reason from blocker), 'deleted')
from target;
