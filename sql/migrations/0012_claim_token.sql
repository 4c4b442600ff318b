-- pgwake: compatible
-- pgwake 0012: one random draw per claim, not one per job, and nothing else computed per job that
-- is the same for the whole claim.
--
-- gen_random_uuid() is dear: 2.3-2.8 µs a call on PostgreSQL 15 with OpenSSL 3.0 (200,000 calls
-- in 490-590 ms, against 34 ms for random()), and 4.7 µs a job inside the claim's update, a
-- quarter of the claim's server CPU. A claim now draws one random UUID and derives each job's
-- lease token from it and the job's id (_lease_token below: about 2 µs a job; md5 would be
-- cheaper but fails where OpenSSL runs in FIPS mode). Tokens stay distinct per job and per claim,
-- and cannot be worked out from one another: a token fences off a stale holder of the same job,
-- and a worker holding one job cannot settle another with it.
--
-- Also computed once per call now: the lease's expiry (returned as computed). The wait time is
-- date_part's float, where extract's numeric cost 0.2 µs more a row on PostgreSQL 14 and later.
--
-- Same name, arguments and columns: older clients call it as before (the line above).

-- A job's lease token: the first 16 bytes of sha256(draw || id), marked as a UUIDv8 (RFC 9562's
-- custom format: version 8, variant 10) so that strict UUID validators accept it; 112 bits of the
-- hash are left. Both claim statements (_claim and claimJobsWhere) derive tokens here. One
-- expression with each argument used once, so the planner inlines it: no call per job.
create function /*schema*/_lease_token(draw bytea, job_id uuid) returns uuid
language sql immutable parallel safe as $$
  select encode(overlay(overlay(substring(sha256(draw || uuid_send(job_id)) from 1 for 16)
                                placing decode('80', 'hex') from 7 for 1)
                        placing decode('80', 'hex') from 9 for 1),
                'hex')::uuid
$$;

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
  expires_at timestamptz;
  claim_draw bytea;
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
  expires_at := claimed_at + lease * interval '1 millisecond';
  -- One random draw for the whole claim; each job's token is derived from it and the job's id.
  claim_draw := uuid_send(gen_random_uuid());

  return query
  with claimed as (
    update /*schema*/_jobs j
    set state = 'running',
        attempt = j.attempt + 1,
        lease_token = /*schema*/_lease_token(claim_draw, j.id),
        lease_expires_at = expires_at,
        leased_by = consumer,
        started_at = claimed_at
    where j.id = any (picked)
    returning j.id, j.priority, j.run_at, j.payload, j.attributes, j.attempt, j.lease_token,
              j.trace_context
  )
  select c.id::text, c.payload::text, c.attributes::text, c.attempt, c.lease_token::text, lease,
         -- since it became runnable: the wake-up latency metric
         greatest(0, date_part('epoch', claimed_at - c.run_at) * 1000),
         expires_at, c.trace_context, left_behind
  from claimed c
  order by c.priority desc, c.run_at, c.id;
end
$$;
