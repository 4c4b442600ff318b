-- pgwake: compatible
-- pgwake 0013: a delay given to SQL's send() as a string of digits ('{"delay": "5000"}') is
-- milliseconds, as the client, the HTTP API and the CLI read it. PostgreSQL's interval read it as
-- seconds: a job meant for five seconds later waited 83 minutes. A number the client cannot
-- read (' 5', '+5', '5.') is refused, where the interval read it as seconds too. Other strings
-- are still intervals ('5 minutes', '1h').
--
-- Only _send_options changes (0006's, with those two branches added): same signature and result, so
-- every older client can use the schema (the line above).

create or replace function /*schema*/_send_options(options jsonb) returns jsonb
language plpgsql stable as $$
declare
  k text;
  v jsonb;
  n numeric;
  at timestamptz;
  job jsonb := '{}';
  bad text;
begin
  if options is null then
    return job;
  end if;
  if jsonb_typeof(options) <> 'object' then
    raise exception 'expected send options to be an object, got %', /*schema*/_describe(options)
      using errcode = 'PW001';
  end if;
  if options ? 'delay' and options ? 'runAt' then
    raise exception 'give send options.delay or options.runAt, not both' using errcode = 'PW001';
  end if;
  for k, v in select * from jsonb_each(options) loop
    case k
    when 'delay' then
      n := null;
      if jsonb_typeof(v) = 'number' then
        n := round((v::text)::numeric);
      elsif jsonb_typeof(v) = 'string' and (v #>> '{}') ~ '^[0-9]*[.]?[0-9]+ *$' then
        -- A number in a string is milliseconds, as the client reads "5000"; PostgreSQL's
        -- interval would read it as seconds.
        n := round((v #>> '{}')::numeric);
      elsif jsonb_typeof(v) = 'string'
            and (v #>> '{}') ~ '^[[:space:]]*[-+]?[0-9.]+[[:space:]]*$' then
        null; -- a number the client cannot read either (' 5', '+5', '5.'): refused below
      elsif jsonb_typeof(v) = 'string' then
        begin
          n := round(extract(epoch from (v #>> '{}')::interval) * 1000);
        exception when others then
          null; -- not an interval: refused below
        end;
      end if;
      if n is null or n < 0 then
        raise exception 'expected send options.delay to be a duration: milliseconds (a number of 0 or more) or an interval such as ''5 minutes'', got %',
          /*schema*/_describe(v)
          using errcode = 'PW001';
      end if;
      -- The client's bound (MAX_DELAY_MS); also keeps now() + delay a timestamp PostgreSQL has.
      if n > 3155760000000 then
        raise exception 'expected send options.delay to be a duration of at most 100 years, got %',
          /*schema*/_describe(v)
          using errcode = 'PW001';
      end if;
      job := job || jsonb_build_object('delay_ms', n);
    when 'runAt' then
      at := null;
      if jsonb_typeof(v) = 'string' then
        begin
          at := (v #>> '{}')::timestamptz;
        exception when others then
          null; -- not a timestamp: refused below
        end;
      end if;
      if at is null then
        raise exception 'expected send options.runAt to be a timestamp such as ''2030-01-01T00:00:00Z'', got %',
          /*schema*/_describe(v)
          using errcode = 'PW001';
      end if;
      -- 'infinity' would be a job that never runs (PostgreSQL 18 stores it; 15 fails on it).
      if not isfinite(at) or extract(year from at at time zone 'UTC') not between 1 and 9999 then
        raise exception 'expected send options.runAt to be a timestamp in the years 1 to 9999, got %',
          /*schema*/_describe(v)
          using errcode = 'PW001';
      end if;
      job := job || jsonb_build_object('run_at', at);
    when 'priority' then
      n := case when jsonb_typeof(v) = 'number' then (v::text)::numeric end;
      if n is null or n <> trunc(n) or n not between -2147483648 and 2147483647 then
        raise exception 'expected send options.priority to be an integer from -2147483648 up, got %',
          /*schema*/_describe(v)
          using errcode = 'PW001';
      end if;
      job := job || jsonb_build_object('priority', n::integer);
    when 'maxAttempts' then
      n := case when jsonb_typeof(v) = 'number' then (v::text)::numeric end;
      if n is null or n <> trunc(n) or n not between 1 and 2147483647 then
        raise exception 'expected send options.maxAttempts to be an integer from 1 up, got %',
          /*schema*/_describe(v)
          using errcode = 'PW001';
      end if;
      job := job || jsonb_build_object('max_attempts', n::integer);
    when 'attributes' then
      if jsonb_typeof(v) <> 'object' then
        raise exception 'expected send options.attributes to be a flat object of strings, numbers, booleans and nulls, got %',
          /*schema*/_describe(v)
          using errcode = 'PW001';
      end if;
      if (select count(*) from jsonb_object_keys(v)) > 64 then
        raise exception 'send options.attributes has % keys, more than 64: keep attributes for routing and filtering, and put data in the payload',
          (select count(*) from jsonb_object_keys(v))
          using errcode = 'PW001';
      end if;
      select a.key into bad from jsonb_object_keys(v) a(key)
      where /*schema*/_utf16_length(a.key) not between 1 and 128 limit 1;
      if found then
        raise exception 'expected send options.attributes key to be 1-128 characters, got %',
          /*schema*/_describe(to_jsonb(bad))
          using errcode = 'PW001';
      end if;
      -- Beyond the largest double, JavaScript reads a number as Infinity, which the client refuses.
      select a.key into bad from jsonb_each(v) a
      where jsonb_typeof(a.value) not in ('string', 'number', 'boolean', 'null')
         or (jsonb_typeof(a.value) = 'number'
             and abs((a.value::text)::numeric) >= 1.7976931348623158e308)
      limit 1;
      if found then
        raise exception 'expected send options.attributes.% to be a string, a finite number, a boolean or null, got %: attributes are flat; nest data in the payload instead',
          bad, /*schema*/_describe(v -> bad)
          using errcode = 'PW001';
      end if;
      select a.key into bad from jsonb_each(v) a
      where jsonb_typeof(a.value) = 'string' and /*schema*/_utf16_length(a.value #>> '{}') > 1024
      limit 1;
      if found then
        raise exception 'send options.attributes.% is a string of % characters, more than 1024: attributes are for routing and filtering; put longer data in the payload',
          bad, /*schema*/_utf16_length(v ->> bad)
          using errcode = 'PW001';
      end if;
      job := job || jsonb_build_object('attributes', v);
    when 'key' then
      if jsonb_typeof(v) <> 'string' or /*schema*/_utf16_length(v #>> '{}') not between 1 and 512 then
        raise exception 'expected send options.key to be a string of 1-512 characters, got %',
          /*schema*/_describe(v)
          using errcode = 'PW001';
      end if;
      job := job || jsonb_build_object('key', v);
    when 'after' then
      if jsonb_typeof(v) <> 'array' then
        raise exception 'expected send options.after to be an array of job ids, got %',
          /*schema*/_describe(v)
          using errcode = 'PW001';
      end if;
      if jsonb_array_length(v) > 1000 then
        raise exception 'expected send options.after to be at most 1000 job ids, got %',
          /*schema*/_describe(v)
          using errcode = 'PW001';
      end if;
      select format('send options.after[%s] to be a job id (a UUID, as send returned it), got %s',
                    e.ord - 1, /*schema*/_describe(e.id))
        into bad
      from jsonb_array_elements(v) with ordinality as e(id, ord)
      where jsonb_typeof(e.id) <> 'string'
         or (e.id #>> '{}') !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
      order by e.ord
      limit 1;
      if found then
        raise exception 'expected %', bad using errcode = 'PW001';
      end if;
      -- As the client keeps them: lower case, each once, in the order first given.
      job := job || jsonb_build_object('after', (
        select coalesce(jsonb_agg(d.id order by d.ord), '[]')
        from (select lower(e.id #>> '{}') as id, min(e.ord) as ord
              from jsonb_array_elements(v) with ordinality as e(id, ord)
              group by 1) d));
    when 'traceContext' then
      if jsonb_typeof(v) <> 'object' or length(v::text) > 8192 or exists (
           select 1 from jsonb_each(v) a where jsonb_typeof(a.value) <> 'string') then
        raise exception 'expected send options.traceContext to be an object of strings such as {"traceparent": "00-..."} (at most 8192 characters), got %',
          /*schema*/_describe(v)
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
