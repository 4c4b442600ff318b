-- pgwake: compatible
-- pgwake 0009: an unfiltered claim is one call of a function whose plans are made once.
--
-- The claim statement (sql/queries/job.sql before this) served filtered and unfiltered claims
-- alike; its plan for a NULL filter left a whole branch out, so PostgreSQL's plan cache judged a
-- generic plan dearer and planned the statement again on every call, and the pick inside
-- _claim_pick too (its LIMIT is a parameter). pg_stat_statements with track_planning counted
-- 705 plans for 701 claims; planning was 10.5% of the claiming backend's CPU in a perf profile.
--
-- _claim takes the pick (_claim_pick: the jobs and the count of what is left) and the update in
-- one PL/pgSQL call, whose statements are planned once per connection (plan_cache_mode =
-- force_generic_plan) with seq scans and bitmap scans ruled out, so that a plan cached while the
-- table was empty or its statistics stale still walks the claim index in order and finds the
-- picked rows by key (the hazard migration 0007 answered for the pick alone). The SET clauses
-- last for the call, so they also hold for the update trigger the claim fires (a PL/pgSQL
-- function whose plans the session then keeps): on a claim it runs only its first statement, an
-- aggregate over the transition table, which has one plan anyway.
-- Filtered claims keep their statement: a selective filter needs the GIN index, which only a
-- bitmap scan reads, and a plan made for the filter's values.
--
-- Additive (the line above): older clients keep their statement and _claim_pick.

-- Claims up to `lim` runnable jobs of `queue` for `consumer`, in claim order, with the columns of
-- the claim statement: each row also says `more`, whether runnable jobs are left that this claim
-- skipped (locked by another claim, or FOR SHARE by a send naming them in `after`); a full claim
-- does not count (`more` is true: look again). No job taken is one row: nulls and `more`.
--
-- The claim's commit does not wait for the disk (synchronous_commit off for this transaction):
-- the one write whose loss costs nothing but a redelivery (see claimJobsWhere in
-- sql/queries/job.sql).
create function /*schema*/_claim(queue text, lim integer, consumer text)
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

  return query
  with claimed as (
    update /*schema*/_jobs j
    set state = 'running',
        attempt = j.attempt + 1,
        lease_token = gen_random_uuid(),
        lease_expires_at = now() + lease * interval '1 millisecond',
        leased_by = consumer,
        started_at = now()
    where j.id = any (picked)
    returning j.id, j.priority, j.run_at, j.payload, j.attributes, j.attempt, j.lease_token,
              j.lease_expires_at, j.trace_context
  )
  select c.id::text, c.payload::text, c.attributes::text, c.attempt, c.lease_token::text, lease,
         -- since it became runnable: the wake-up latency metric
         greatest(0, extract(epoch from now() - c.run_at) * 1000)::double precision,
         c.lease_expires_at, c.trace_context, left_behind
  from claimed c
  order by c.priority desc, c.run_at, c.id;
end
$$;
