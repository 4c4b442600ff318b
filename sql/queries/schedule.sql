-- Runtime statements on schedules (migration 0003). See job.sql for the conventions.

-- name: upsertSchedule
-- Creates or updates a schedule. Its next tick ($8, computed by the caller from the database
-- clock) only replaces the stored one when the timing changed, so re-deploying the same schedule
-- never skips or repeats a tick.
insert into /*schema*/_schedules as s
  (name, queue, cron, every_ms, timezone, payload, options, next_run_at)
values ($1::text, $2::text, $3::text, $4::bigint, $5::text, $6::text::jsonb, $7::text::jsonb,
        $8::timestamptz)
on conflict (name) do update
set queue = excluded.queue,
    payload = excluded.payload,
    options = excluded.options,
    next_run_at = case
      when (s.cron, s.every_ms, s.timezone)
           is not distinct from (excluded.cron, excluded.every_ms, excluded.timezone)
      then s.next_run_at else excluded.next_run_at end,
    cron = excluded.cron,
    every_ms = excluded.every_ms,
    timezone = excluded.timezone,
    updated_at = now()
returning next_run_at;

-- name: deleteSchedule
delete from /*schema*/_schedules where name = $1::text returning name;

-- name: databaseNow
-- The database clock, in Unix milliseconds: every due time is computed from it.
select floor(extract(epoch from clock_timestamp()) * 1000)::bigint;

-- name: nextScheduleIn
-- Milliseconds until the earliest schedule is due (null: no schedules), leaving out the schedules
-- named in $1 (a JSON array): those whose next tick this client cannot compute, which stay due.
select ceil(extract(epoch from min(next_run_at) - clock_timestamp()) * 1000)::bigint
from /*schema*/_schedules
where name not in (select jsonb_array_elements_text($1::text::jsonb));

-- name: dueSchedules
-- Schedules whose tick has come, with the tick exactly as stored (text, to compare and swap) and
-- the database clock to compute the next tick from. Leaves out the schedules named in $1, as
-- nextScheduleIn does.
select name, cron, every_ms, timezone, next_run_at::text,
       floor(extract(epoch from next_run_at) * 1000)::bigint,
       floor(extract(epoch from clock_timestamp()) * 1000)::bigint
from /*schema*/_schedules
where next_run_at <= now() and name not in (select jsonb_array_elements_text($1::text::jsonb))
order by next_run_at
limit 100;

-- name: fireSchedule
-- The tick ($2) travels as text: postgres.js would send a timestamptz parameter through a JS
-- Date and drop its microseconds, and the compare-and-swap would never match.
select /*schema*/_fire_schedule($1::text, $2::text::timestamptz, $3::timestamptz)::text;

-- name: listSchedules
select name, queue, cron, every_ms, timezone, payload::text, options::text, next_run_at,
       last_run_at, last_job_id::text
from /*schema*/_schedules
order by name;
