-- pgwake: compatible
-- pgwake 0010: a claimed job's start time is when it was claimed.
--
-- _claim (migration 0009) stamped started_at, lease_expires_at and the wait time with now(), the
-- start of the claim's transaction. Its pick is a later statement with a snapshot of its own, so
-- a claim whose call began just before a send committed (a busy server can pause the call between
-- its first statements) could pick that job and record it as started before it was created: a
-- job that ran before it existed on the dashboard, and a test that compares the two failed once
-- in a full suite. The function now reads the clock once, right after the pick.
--
-- Same name, arguments and columns: older clients call it as before (the line above).

create or replace function /*schema*/_claim(queue text, lim integer, consumer text)
returns table (
  id text,
  payload text,
  attributes text,
  attempt integer,
  lease_token text,
  lease_ms bigint,
  waited_ms double precision,
  lease_expires_at timestamptz,
  trace_context text,
  more boolean
)
language plpgsql volatile
set enable_seqscan = off
set enable_bitmapscan = off
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
  lease bigint;
  picked uuid[];
  left_behind boolean;
  claimed_at timestamptz;
begin
  perform set_config('synchronous_commit', 'off', true);
  select q.lease_ms into lease from /*schema*/_queues q where q.name = _claim.queue;

  -- The pick of migration 0007, whose statements now also plan once (this call's settings hold
  -- inside it: its own SET names only enable_bitmapscan).
  select array_agg(p.id) filter (where p.id is not null), bool_or(p.more)
    into picked, left_behind
  from /*schema*/_claim_pick(_claim.queue, lim) p;

  -- No job taken (array_agg of no id is null), or no such queue.
  if picked is null or lease is null then
    return query select null::text, null::text, null::text, null::integer, null::text,
                        null::bigint, null::double precision, null::timestamptz, null::text,
                        left_behind;
    return;
  end if;

  -- The clock when the jobs were picked, not now(): this call's transaction may have begun before
  -- the sends it picked committed (the pick takes a later snapshot), and its start is no time
  -- at which they had started.
  claimed_at := clock_timestamp();

  return query
  with claimed as (
    update /*schema*/_jobs j
    set state = 'running',
        attempt = j.attempt + 1,
        lease_token = gen_random_uuid(),
        lease_expires_at = claimed_at + lease * interval '1 millisecond',
        leased_by = consumer,
        started_at = claimed_at
    where j.id = any (picked)
    returning j.id, j.priority, j.run_at, j.payload, j.attributes, j.attempt, j.lease_token,
              j.lease_expires_at, j.trace_context
  )
  select c.id::text, c.payload::text, c.attributes::text, c.attempt, c.lease_token::text, lease,
         -- since it became runnable: the wake-up latency metric
         greatest(0, extract(epoch from claimed_at - c.run_at) * 1000)::double precision,
         c.lease_expires_at, c.trace_context, left_behind
  from claimed c
  order by c.priority desc, c.run_at, c.id;
end
$$;
