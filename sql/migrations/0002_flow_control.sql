-- pgwake 0002: flow control and workflows. Dedup keys, dependencies, bounded queues
-- (backpressure), attribute filters, and enqueueing from SQL, all through one function,
-- _enqueue, that the Node client and the public send() share.
--
-- Custom SQLSTATEs (mapped to typed errors by src/errors.ts):
--   PW001  invalid input                      → ValidationError
--   PW002  the queue does not exist           → QueueNotFoundError
--   PW003  the queue is full (maxSize)        → QueueFullError
--   PW004  `after` names jobs that do not exist → ValidationError
--   PW005  a bounded queue outside READ COMMITTED → ValidationError

alter table /*schema*/_jobs
  add column key text,       -- dedup key: at most one unfinished job per queue and key
  add column after uuid[];   -- runs only after all of these completed

-- The dedup guarantee itself: enforced by the database, so concurrent senders cannot both win.
create unique index _jobs_key_idx on /*schema*/_jobs (queue, key)
  where key is not null and state in ('waiting', 'scheduled', 'queued', 'running');
-- Waiting jobs by the jobs they wait for, to release or cancel them when those finish.
create index _jobs_waiting_after_idx on /*schema*/_jobs using gin (after)
  where state = 'waiting';
-- Waiting jobs by queue (stats, cancel).
create index _jobs_waiting_idx on /*schema*/_jobs (queue) where state = 'waiting';
-- Filtered claims (`attributes @> filter`) on runnable jobs: selective filters read this and sort
-- the few matches; broad ones walk _jobs_claim_idx in order. The planner picks per claim.
-- Jobs without attributes stay out of it (a filter `attributes @> …` implies they are not null).
create index _jobs_attributes_idx on /*schema*/_jobs using gin (attributes jsonb_path_ops)
  where state = 'queued' and attributes is not null;

-- Room left in a bounded queue, counted exactly: a transaction advisory lock per queue
-- serialises admissions, and the count runs after the lock is taken (its own statement, so its
-- own snapshot) and so sees every admission that committed before. The lock is held until the
-- caller commits; nothing else (claims, acks) takes it, so consumers never wait on producers.
create function /*schema*/_admit(queue text, max_size integer) returns bigint
language plpgsql volatile as $$
declare
  unfinished bigint;
begin
  if current_setting('transaction_isolation') <> 'read committed' then
    raise exception 'queue "%" is bounded (maxSize %), and a bounded queue can only be sent to in a READ COMMITTED transaction', queue, max_size
      using errcode = 'PW005',
            hint = 'send outside this transaction, or run it at READ COMMITTED (the default)';
  end if;
  perform pg_advisory_xact_lock(hashtextextended(/*literal:schema*/'pgwake' || ':admit:' || queue, 0));
  select count(*) into unfinished
  from /*schema*/_jobs j
  where j.queue = _admit.queue and j.state in ('waiting', 'scheduled', 'queued', 'running');
  return greatest(0, max_size - unfinished);
end
$$;

-- Enqueues a batch: [{id?, queue, payload, attributes?, priority?, delay_ms?, run_at?,
-- max_attempts?, key?, after?}]. One statement whatever the batch; returns one row per job, in
-- order, saying what became of it (with `atomic`, a no_queue or unknown_after anywhere in the
-- batch writes nothing at all, and the jobs that would have been written say `skipped`):
--   inserted       written (job_id is its id)
--   existing       its key matched an unfinished job: existing_id is that job
--   conflict       its key was taken by a concurrent send that committed first: ask again
--   full           its bounded queue had no room: wait for a job to finish, then try again
--   no_queue       the queue does not exist
--   unknown_after  `after` names jobs that do not exist (detail lists them)
-- Jobs whose dependencies already failed are written as cancelled. Dependencies are locked
-- FOR SHARE, so one finishing concurrently cannot miss a dependent written here.
create function /*schema*/_enqueue(jobs jsonb, atomic boolean default false)
returns table (job_id uuid, status text, existing_id uuid, detail text)
language plpgsql volatile as $$
begin
  -- The common case pays for nothing it does not use: no key, no dependency, and only queues
  -- that exist and are unbounded. One plain insert (measured: the general path below costs about
  -- 45% of enqueue throughput, its ranking and joins more than anything).
  if not jsonb_path_exists(jobs, '$[*] ? (exists(@.key) || exists(@.after))')
     and not exists (
       select 1
       from (select distinct r.queue from jsonb_to_recordset(jobs) as r(queue text)) i
       left join /*schema*/_queues q on q.name = i.queue
       where q.name is null or q.max_size is not null) then
    return query
    insert into /*schema*/_jobs as j (id, queue, state, priority, run_at, payload, attributes, max_attempts)
    select coalesce(r.id, /*schema*/uuid_v7()), r.queue,
           (case when t.run_at > now() then 'scheduled' else 'queued' end)::/*schema*/job_state,
           coalesce(r.priority, 0), t.run_at, coalesce(r.payload, 'null'::jsonb), r.attributes,
           r.max_attempts
    from jsonb_to_recordset(jobs) as r(
           id uuid, queue text, payload jsonb, attributes jsonb, priority integer, delay_ms bigint,
           run_at timestamptz, max_attempts integer)
    cross join lateral (
      select coalesce(r.run_at, now() + coalesce(r.delay_ms, 0) * interval '1 millisecond') as run_at
    ) t
    returning j.id, 'inserted'::text, null::uuid, null::text;
    return;
  end if;

  return query
  with input as (
    select coalesce(r.id, /*schema*/uuid_v7()) as id, o.ord, r.queue,
           coalesce(r.payload, 'null'::jsonb) as payload, r.attributes,
           coalesce(r.priority, 0) as priority,
           coalesce(r.run_at, now() + coalesce(r.delay_ms, 0) * interval '1 millisecond') as run_at,
           r.max_attempts, r.key, r.after
    from jsonb_array_elements(jobs) with ordinality as o(item, ord)
    cross join lateral jsonb_to_record(o.item) as r(
      id uuid, queue text, payload jsonb, attributes jsonb, priority integer, delay_ms bigint,
      run_at timestamptz, max_attempts integer, key text, after uuid[])
  ), queues as (
    select q.name, q.max_size from /*schema*/_queues q
    where q.name in (select distinct i.queue from input i)
  ), parents as (
    select p.id, p.state from /*schema*/_jobs p
    where p.id in (select unnest(i.after) from input i where i.after is not null)
    for share
  ), dependencies as (
    select i.id,
           array_agg(a.id) filter (where p.id is null) as missing,
           bool_or(p.state in ('failed', 'cancelled')) as broken,
           bool_and(p.state = 'completed') as done
    from input i
    cross join lateral unnest(i.after) as a(id)
    left join parents p on p.id = a.id
    group by i.id
  ), keyed as (
    -- the first job of the batch with a key, or the unfinished job already holding it
    select i.id,
           first_value(i.id) over (partition by i.queue, i.key order by i.ord) as first_id,
           (select j.id from /*schema*/_jobs j
            where j.queue = i.queue and j.key = i.key
              and j.state in ('waiting', 'scheduled', 'queued', 'running')) as held_by
    from input i
    where i.key is not null
  ), sorted as (
    select i.*, q.name is not null as queue_exists, q.max_size, d.missing, d.broken, d.done,
           coalesce(k.held_by, nullif(k.first_id, i.id)) as existing,
           -- the order in which jobs of a bounded queue are admitted
           row_number() over (
             partition by i.queue,
                          (q.name is null or d.missing is not null
                           or coalesce(k.held_by, nullif(k.first_id, i.id)) is not null)
             order by i.ord) as rank
    from input i
    left join queues q on q.name = i.queue
    left join dependencies d on d.id = i.id
    left join keyed k on k.id = i.id
  ), admitted as (
    select s.queue, /*schema*/_admit(s.queue, s.max_size) as room
    from sorted s
    where s.max_size is not null and s.queue_exists and s.missing is null and s.existing is null
    group by s.queue, s.max_size
  ), decided as (
    select s.*,
           case
             when not s.queue_exists then 'no_queue'
             when s.missing is not null then 'unknown_after'
             when s.existing is not null then 'existing'
             when a.room is not null and s.rank > a.room then 'full'
             else 'insert'
           end as verdict
    from sorted s
    left join admitted a on a.queue = s.queue
  ), blocked as (
    select atomic and coalesce(bool_or(d.verdict in ('no_queue', 'unknown_after')), false) as yes
    from decided d
  ), inserted as (
    insert into /*schema*/_jobs as j
      (id, queue, state, priority, run_at, payload, attributes, max_attempts, key, after,
       finished_at, errors)
    select d.id, d.queue,
           (case when d.broken then 'cancelled'
                 when d.after is not null and not d.done then 'waiting'
                 when d.run_at > now() then 'scheduled'
                 else 'queued' end)::/*schema*/job_state,
           d.priority, d.run_at, d.payload, d.attributes, d.max_attempts, d.key, d.after,
           case when d.broken then now() end,
           case when d.broken then jsonb_build_array(jsonb_build_object(
             'name', 'DependencyFailed', 'attempt', 0, 'at', now(),
             'message', 'a job it was to run after had already failed or been cancelled')) end
    from decided d
    where d.verdict = 'insert' and not (select b.yes from blocked b)
    order by d.ord
    on conflict (queue, key)
      where key is not null and state in ('waiting', 'scheduled', 'queued', 'running')
      do nothing
    returning j.id
  )
  select d.id,
         case when d.verdict = 'insert' then
                case when (select b.yes from blocked b) then 'skipped'
                     when ins.id is null then 'conflict'
                     else 'inserted' end
              -- a duplicate of an earlier job of this batch that lost its key to a concurrent send
              when d.verdict = 'existing' and original.id is not null and original_ins.id is null
                then 'conflict'
              else d.verdict end,
         d.existing,
         case when d.verdict = 'unknown_after' then array_to_string(d.missing, ', ') end
  from decided d
  left join inserted ins on ins.id = d.id
  left join decided original on original.id = d.existing
  left join inserted original_ins on original_ins.id = d.existing
  order by d.ord;
end
$$;

-- Waiting jobs whose dependencies finished: released when all completed, cancelled (and so
-- their own dependents, through the trigger) when one failed or was cancelled. The dependents
-- are locked first, in id order (no deadlocks), and decided by the next statement, whose fresh
-- snapshot sees every dependency that finished in a transaction that committed before the lock.
create function /*schema*/_settle_dependents(done uuid[], broken uuid[]) returns void
language plpgsql volatile as $$
begin
  perform 1 from /*schema*/_jobs
  where state = 'waiting' and after && (done || broken)
  order by id
  for update;

  update /*schema*/_jobs c
  set state = 'cancelled',
      finished_at = now(),
      errors = coalesce(c.errors, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
        'name', 'DependencyFailed', 'attempt', c.attempt, 'at', now(),
        'message', 'a job it was to run after failed or was cancelled'))
  where c.state = 'waiting' and c.after && broken;

  update /*schema*/_jobs c
  set state = (case when c.run_at > now() then 'scheduled' else 'queued' end)::/*schema*/job_state
  where c.state = 'waiting' and c.after && done
    and not exists (
      select 1 from /*schema*/_jobs p where p.id = any (c.after) and p.state <> 'completed');
end
$$;

-- Announces finished jobs of one queue and state: their ids, 150 to a NOTIFY, well under the
-- 8000-byte payload limit. Both triggers use it (a job can be inserted finished: cancelled,
-- because a job it was to run after had already failed).
create function /*schema*/_notify_done(queue text, state /*schema*/job_state, ids uuid[])
returns void
language sql volatile as $$
  select pg_notify(/*literal:channel:done*/'pgwake:done', json_build_object(
    'q', queue,
    's', state,
    'ids', array_to_json(ids[chunk * 150 + 1 : chunk * 150 + 150])
  )::text)
  from generate_series(0, (cardinality(ids) - 1) / 150) as chunk
$$;

create or replace function /*schema*/_jobs_after_insert() returns trigger
language plpgsql as $$
begin
  perform /*schema*/_notify_ready(queue, count(*) filter (where state = 'queued'),
                                  min(run_at) filter (where state = 'scheduled'))
  from inserted
  where state in ('queued', 'scheduled')
  group by queue;
  perform /*schema*/_notify_done(queue, state, array_agg(id))
  from inserted
  where state in ('completed', 'failed', 'cancelled')
  group by queue, state;
  return null;
end
$$;

-- The update trigger of 0001, now also settling dependents of jobs that finished.
create or replace function /*schema*/_jobs_after_update() returns trigger
language plpgsql as $$
declare
  any_ready boolean;
  any_done boolean;
  any_failed boolean;
  done uuid[];
  broken uuid[];
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
    perform /*schema*/_notify_done(queue, state, array_agg(id))
    from updated
    where state in ('completed', 'failed', 'cancelled')
    group by queue, state;

    -- Only when some job waits for another does finishing cost more than this probe.
    if exists (select 1 from /*schema*/_jobs where state = 'waiting') then
      select array_agg(id) filter (where state = 'completed'),
             array_agg(id) filter (where state in ('failed', 'cancelled'))
        into done, broken
        from updated
        where state in ('completed', 'failed', 'cancelled');
      perform /*schema*/_settle_dependents(coalesce(done, '{}'), coalesce(broken, '{}'));
    end if;
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

-- Checks the options of send() as the Node client does, raising PW001 with the same advice.
create function /*schema*/_send_options(options jsonb) returns jsonb
language plpgsql stable as $$
declare
  k text;
  v jsonb;
  job jsonb := '{}';
begin
  if options is null then
    return job;
  end if;
  if jsonb_typeof(options) <> 'object' then
    raise exception 'expected send options to be a JSON object, got %', jsonb_typeof(options)
      using errcode = 'PW001';
  end if;
  for k, v in select * from jsonb_each(options) loop
    case k
    when 'delay' then
      if jsonb_typeof(v) = 'number' and (v::text)::numeric >= 0 then
        job := job || jsonb_build_object('delay_ms', round((v::text)::numeric));
      elsif jsonb_typeof(v) = 'string' then
        begin
          job := job || jsonb_build_object('delay_ms',
            round(extract(epoch from (v #>> '{}')::interval) * 1000));
        exception when others then
          raise exception 'expected send options.delay to be milliseconds or an interval such as ''5 minutes'', got %', v
            using errcode = 'PW001';
        end;
        if (job ->> 'delay_ms')::numeric < 0 then
          raise exception 'expected send options.delay to be 0 or more, got %', v using errcode = 'PW001';
        end if;
      else
        raise exception 'expected send options.delay to be milliseconds (0 or more) or an interval string, got %', v
          using errcode = 'PW001';
      end if;
    when 'runAt' then
      begin
        job := job || jsonb_build_object('run_at', (v #>> '{}')::timestamptz);
      exception when others then
        raise exception 'expected send options.runAt to be a timestamp, got %', v using errcode = 'PW001';
      end;
    when 'priority' then
      if jsonb_typeof(v) <> 'number' or (v::text)::numeric <> trunc((v::text)::numeric)
         or (v::text)::numeric not between -2147483648 and 2147483647 then
        raise exception 'expected send options.priority to be an integer, got %', v using errcode = 'PW001';
      end if;
      job := job || jsonb_build_object('priority', v);
    when 'maxAttempts' then
      if jsonb_typeof(v) <> 'number' or (v::text)::numeric <> trunc((v::text)::numeric)
         or (v::text)::numeric < 1 or (v::text)::numeric > 2147483647 then
        raise exception 'expected send options.maxAttempts to be an integer from 1 up, got %', v
          using errcode = 'PW001';
      end if;
      job := job || jsonb_build_object('max_attempts', v);
    when 'attributes' then
      if jsonb_typeof(v) <> 'object' or exists (
           select 1 from jsonb_each(v) a
           where jsonb_typeof(a.value) not in ('string', 'number', 'boolean', 'null')) then
        raise exception 'expected send options.attributes to be a flat object of strings, numbers, booleans and nulls, got %', v
          using errcode = 'PW001';
      end if;
      job := job || jsonb_build_object('attributes', v);
    when 'key' then
      if jsonb_typeof(v) <> 'string' or length(v #>> '{}') not between 1 and 512 then
        raise exception 'expected send options.key to be a string of 1-512 characters, got %', v
          using errcode = 'PW001';
      end if;
      job := job || jsonb_build_object('key', v);
    when 'after' then
      if jsonb_typeof(v) <> 'array' or exists (
           select 1 from jsonb_array_elements(v) e
           where jsonb_typeof(e) <> 'string'
              or (e #>> '{}') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$') then
        raise exception 'expected send options.after to be an array of job ids, got %', v
          using errcode = 'PW001';
      end if;
      job := job || jsonb_build_object('after', v);
    else
      raise exception 'unknown option "%" in send options: expected one of delay, runAt, priority, attributes, maxAttempts, key, after', k
        using errcode = 'PW001';
    end case;
  end loop;
  return job;
end
$$;

-- Enqueues one job from SQL, so triggers and other languages share the queue:
--   select pgwake.send('emails', '{"to": "a@b.c"}', '{"delay": "5 minutes", "priority": 10}');
-- Returns the job's id (or, with a dedup key already held, the holding job's id). Raises PW001
-- (bad input), PW002 (no such queue), PW003 (a bounded queue is full: SQL cannot wait) or PW004.
create function /*schema*/send(queue text, payload jsonb, options jsonb default '{}')
returns uuid
language plpgsql volatile as $$
declare
  job jsonb;
  r record;
begin
  if queue is null or queue !~ '^[A-Za-z0-9_.:-]{1,128}$' then
    raise exception 'expected queue name to be 1-128 characters of letters, digits, _ - . :, got %',
      coalesce(quote_literal(queue), 'null')
      using errcode = 'PW001';
  end if;
  job := /*schema*/_send_options(options)
         || jsonb_build_object('queue', queue, 'payload', coalesce(payload, 'null'::jsonb));
  -- A key taken by a concurrent send that committed meanwhile is seen on the next try.
  for attempt in 1..3 loop
    select * into r from /*schema*/_enqueue(jsonb_build_array(job));
    case r.status
    when 'inserted' then return r.job_id;
    when 'existing' then return r.existing_id;
    when 'no_queue' then
      raise exception 'queue "%" does not exist: create it before sending to it', queue
        using errcode = 'PW002';
    when 'full' then
      raise exception 'queue "%" is full (its maxSize is reached): SQL cannot wait for room', queue
        using errcode = 'PW003', hint = 'send from the Node client, which waits, or raise maxSize';
    when 'unknown_after' then
      raise exception 'send options.after names jobs that do not exist: %', r.detail
        using errcode = 'PW004';
    else
      null; -- conflict: try again
    end case;
  end loop;
  raise exception 'the dedup key of this job kept changing hands; try again' using errcode = '40001';
end
$$;

-- The public view gains the new columns.
create or replace view /*schema*/jobs as
  select j.id, j.queue,
         case when j.state in ('scheduled', 'waiting') then 'queued' else j.state::text end as state,
         j.priority, j.run_at, j.payload, j.attributes, j.attempt,
         coalesce(j.max_attempts, q.max_attempts) as max_attempts,
         j.result, j.errors, j.leased_by, j.lease_expires_at,
         j.created_at, j.started_at, j.finished_at, j.key, j.after
  from /*schema*/_jobs j
  left join /*schema*/_queues q on q.name = j.queue;
