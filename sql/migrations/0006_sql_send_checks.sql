-- pgwake: compatible
-- pgwake 0006: SQL's send() checks its input as the Node client does (src/options.ts), so that
-- every bad value raises PW001 with the client's advice and writes nothing. Before, PostgreSQL
-- refused a few values itself with class-22 errors (a delay past its timestamps, a priority
-- written 1.0), stored others the client refuses (an infinite runAt, a payload over the size
-- limit, attribute numbers JavaScript reads as Infinity, attribute strings of any length), and
-- counted lengths in code points where the client counts UTF-16 units.
--
-- Only functions change: send() and _send_options keep their signatures and results, and the
-- helpers below are new. The clients call _enqueue, which is untouched, so every older client
-- can use the schema (the line above).

-- A value as the client's messages show it (src/util/checks.ts, describe): `"abc" (string)`,
-- `1.5 (number)`, `an object`. Long strings are cut and long numbers (jsonb writes 1e300 with all
-- its digits) shortened, so that a huge value cannot flood the message.
create or replace function /*schema*/_describe(v jsonb) returns text
language sql immutable parallel safe as $$
  select case jsonb_typeof(v)
    when 'string' then
      to_jsonb(case when length(v #>> '{}') > 80 then left(v #>> '{}', 77) || '...'
                    else v #>> '{}' end)::text || ' (string)'
    when 'number' then
      case when length(v::text) > 24
           then regexp_replace(trim(to_char((v::text)::numeric, '9.999999999999999EEEE')),
                               '[.]?0+e', 'e')
           else v::text end || ' (number)'
    when 'boolean' then v::text || ' (boolean)'
    when 'array' then 'an array of ' || jsonb_array_length(v)
    when 'object' then 'an object'
    else 'null'
  end
$$;

-- Length as JavaScript counts it (UTF-16 units), so that the limits on keys agree with the
-- client's: a character beyond U+FFFF is two. Only text with 4-byte characters pays the regex.
-- Backslashes go in E'' literals throughout this file: migrations may run with
-- standard_conforming_strings off, where a plain literal would eat them.
create or replace function /*schema*/_utf16_length(s text) returns integer
language sql immutable strict parallel safe as $$
  select length(s) + case when octet_length(s) - length(s) < 3 then 0
    else length(regexp_replace(s, E'[^\\U00010000-\\U0010FFFF]', '', 'g')) end
$$;

-- _send_options of 0004 with the client's checks and normal forms: integers written 1.0 are
-- integers (JSON.parse reads them so); delays and runAt stay within what the client accepts (at
-- most 100 years; a finite timestamp in the years 1 to 9999), so no job can overflow a timestamp
-- or never run; delay and runAt exclude each other; attributes have at most 64 keys of 1-128
-- characters, strings of at most 1024 and numbers JavaScript can hold; `after` holds at most 1000
-- ids, kept once each.
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

-- The client's payload checks (src/util/json.ts), which SQL cannot take from a client: the size
-- limit and numbers JavaScript can hold. jsonb itself refuses NUL and lone surrogates before
-- send() is called.
--
-- The limit is the client's default maxPayloadSize, 1 MiB, unless the setting
-- pgwake.max_payload_size gives another number of bytes (alter database … set, alter role … set,
-- set, set local), for schemas whose clients raised theirs. Bytes are counted as the client
-- counts them, in compact JSON: jsonb's text adds a space after each : and , outside strings,
-- which are taken off when the text alone is over the limit (only then, as that costs a scan).
create or replace function /*schema*/_check_payload(payload jsonb) returns void
language plpgsql stable as $$
declare
  setting text := nullif(trim(current_setting('pgwake.max_payload_size', true)), '');
  max_bytes bigint := 1048576;
  body text;
  bytes bigint;
  huge jsonb;
begin
  if setting is not null then
    if setting !~ '^[0-9]{1,15}$' or setting::bigint < 1 then
      raise exception 'expected setting pgwake.max_payload_size to be a number of bytes from 1 up, got %',
        quote_literal(setting)
        using errcode = 'PW001',
              hint = 'set it to bytes, such as 4194304 for 4 MiB, or reset it for the default of 1048576';
    end if;
    max_bytes := setting::bigint;
  end if;
  body := payload::text;
  bytes := octet_length(body);
  if bytes > max_bytes then
    bytes := bytes - (select length(s) - length(replace(s, ' ', ''))
                      from regexp_replace(body, E'"(?:[^"\\\\]|\\\\.)*"', '', 'g') as s);
  end if;
  if bytes > max_bytes then
    raise exception 'payload is % bytes of JSON, over the limit of %: store large data elsewhere and send a reference, or raise pgwake.max_payload_size',
      bytes, max_bytes
      using errcode = 'PW001';
  end if;
  huge := jsonb_path_query_first(payload,
    'strict $.** ? (@.type() == "number" && (@ >= 1.7976931348623158e308 || @ <= -1.7976931348623158e308))');
  if huge is not null then
    raise exception 'payload holds %, beyond what JavaScript can hold (it would read as Infinity): send it as a string',
      /*schema*/_describe(huge)
      using errcode = 'PW001';
  end if;
end
$$;

-- send() of 0002, checking the payload too. Nothing else changed.
create or replace function /*schema*/send(queue text, payload jsonb, options jsonb default '{}')
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
  job := /*schema*/_send_options(options);
  perform /*schema*/_check_payload(payload);
  job := job || jsonb_build_object('queue', queue, 'payload', coalesce(payload, 'null'::jsonb));
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
