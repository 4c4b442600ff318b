-- pgwake 0004: trace context. A job carries the trace context of the send that made it (the
-- W3C `traceparent`, and `tracestate` when there is one, as the OpenTelemetry propagator wrote
-- them), so the span of the worker that runs it can link to the producer's span, across
-- processes. pgwake only stores it: the client writes it when tracing is on (src/tracing.ts),
-- SQL callers may pass `traceContext` to send(), and the claim hands it back.
--
-- Nullable, with no default: adding the column only changes the catalog (no table rewrite), and
-- jobs sent without tracing store nothing.
alter table /*schema*/_jobs add column trace_context text;  -- JSON object of strings, or null

-- _enqueue of 0002, also writing `trace_context` in both paths: a JSON string (the client sends
-- the carrier's JSON text, stored as it is) or an object of strings (SQL's send(), stored as its
-- JSON text). Nothing else changed: a batch without it inserts a null, at no extra cost.
create or replace function /*schema*/_enqueue(jobs jsonb, atomic boolean default false)
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
    insert into /*schema*/_jobs as j
      (id, queue, state, priority, run_at, payload, attributes, max_attempts, trace_context)
    select coalesce(r.id, /*schema*/uuid_v7()), r.queue,
           (case when t.run_at > now() then 'scheduled' else 'queued' end)::/*schema*/job_state,
           coalesce(r.priority, 0), t.run_at, coalesce(r.payload, 'null'::jsonb), r.attributes,
           r.max_attempts, r.trace_context
    from jsonb_to_recordset(jobs) as r(
           id uuid, queue text, payload jsonb, attributes jsonb, priority integer, delay_ms bigint,
           run_at timestamptz, max_attempts integer, trace_context text)
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
           r.max_attempts, r.key, r.after, r.trace_context
    from jsonb_array_elements(jobs) with ordinality as o(item, ord)
    cross join lateral jsonb_to_record(o.item) as r(
      id uuid, queue text, payload jsonb, attributes jsonb, priority integer, delay_ms bigint,
      run_at timestamptz, max_attempts integer, key text, after uuid[], trace_context text)
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
       finished_at, errors, trace_context)
    select d.id, d.queue,
           (case when d.broken then 'cancelled'
                 when d.after is not null and not d.done then 'waiting'
                 when d.run_at > now() then 'scheduled'
                 else 'queued' end)::/*schema*/job_state,
           d.priority, d.run_at, d.payload, d.attributes, d.max_attempts, d.key, d.after,
           case when d.broken then now() end,
           case when d.broken then jsonb_build_array(jsonb_build_object(
             'name', 'DependencyFailed', 'attempt', 0, 'at', now(),
             'message', 'a job it was to run after had already failed or been cancelled')) end,
           d.trace_context
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

-- _send_options of 0002, also accepting `traceContext`: {"traceparent": "00-...", "tracestate": "..."}.
create or replace function /*schema*/_send_options(options jsonb) returns jsonb
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
    when 'traceContext' then
      if jsonb_typeof(v) <> 'object' or length(v::text) > 8192 or exists (
           select 1 from jsonb_each(v) a where jsonb_typeof(a.value) <> 'string') then
        raise exception 'expected send options.traceContext to be an object of strings such as {"traceparent": "00-..."} (at most 8192 characters), got %', v
          using errcode = 'PW001';
      end if;
      job := job || jsonb_build_object('trace_context', v);
    else
      raise exception 'unknown option "%" in send options: expected one of delay, runAt, priority, attributes, maxAttempts, key, after, traceContext', k
        using errcode = 'PW001';
    end case;
  end loop;
  return job;
end
$$;
