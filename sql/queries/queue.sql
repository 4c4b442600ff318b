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
