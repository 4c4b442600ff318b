-- pgwake 0003: periodic schedules.
--
-- Every client may fire a schedule; exactly one job comes of each tick because firing is a
-- compare-and-swap on the schedule's next_run_at (_fire_schedule): whoever moves it from the
-- tick it saw to the next one enqueues, in the same transaction, and everyone else finds the
-- row already moved. After downtime the next tick is the first one after now, so missed ticks
-- produce one catch-up job, not a burst. Times are on the database clock.

create table /*schema*/_schedules (
  name        text primary key,
  queue       text not null,
  cron        text,                                 -- a cron pattern (croner syntax), or
  every_ms    bigint check (every_ms >= 1000),      -- a fixed interval
  timezone    text,                                 -- for cron; null is UTC
  payload     jsonb not null default 'null',
  options     jsonb not null default '{}',          -- _enqueue fields: priority, attributes, ...
  next_run_at timestamptz not null,
  last_run_at timestamptz,
  last_job_id uuid,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  check ((cron is null) <> (every_ms is null))
);

-- A schedule created, removed or retimed: every client re-reads when the next one is due.
-- Firing (which only moves next_run_at) does not notify: the firing client knows, and the others
-- computed the same next tick.
create function /*schema*/_schedules_changed() returns trigger
language plpgsql as $$
begin
  perform pg_notify(/*literal:channel:schedule*/'pgwake:schedule', '');
  return null;
end
$$;

create trigger _schedules_changed
  after insert or delete or update of cron, every_ms, timezone on /*schema*/_schedules
  for each statement execute function /*schema*/_schedules_changed();

-- Fires schedule `name` for the tick `expected` (its next_run_at as the caller read it), moving
-- it to `next`. Returns the job's id; null when another client fired this tick first (or the
-- schedule changed), or when its queue is missing or full (the tick is then skipped).
create function /*schema*/_fire_schedule(name text, expected timestamptz, next timestamptz)
returns uuid
language plpgsql volatile as $$
declare
  s record;
  r record;
begin
  update /*schema*/_schedules sc
  set next_run_at = next, last_run_at = now()
  where sc.name = _fire_schedule.name and sc.next_run_at = expected and sc.next_run_at <= now()
  returning sc.queue, sc.payload, sc.options into s;
  if not found then
    return null;
  end if;
  select * into r from /*schema*/_enqueue(jsonb_build_array(
    s.options || jsonb_build_object('queue', s.queue, 'payload', s.payload)));
  if r.status not in ('inserted', 'existing') then
    return null;
  end if;
  update /*schema*/_schedules sc
  set last_job_id = coalesce(r.existing_id, r.job_id)
  where sc.name = _fire_schedule.name;
  return coalesce(r.existing_id, r.job_id);
end
$$;

create view /*schema*/schedules as
  select name, queue, cron, every_ms, timezone, payload, options, next_run_at, last_run_at,
         last_job_id, created_at, updated_at
  from /*schema*/_schedules;
