-- Runtime statements on jobs. Each block is loaded by src/db/queries.ts under its name.
-- Batches arrive as one JSON text parameter (jsonb_to_recordset): one round trip whatever the
-- size, and no driver array-serialisation quirks. Results are read by position (src/db/rows.ts);
-- JSON comes back as text so no driver transform can rewrite it.

-- name: insertJobs
-- Through _enqueue (migration 0002), as SQL callers do: one statement for the whole batch. A row
-- for each job not inserted, with its verdict, and one row (id null) counting the inserted ones:
-- a bulk send of thousands reads back one row, not thousands. $2: all or nothing for bad input
-- (sendMany). The transaction id tells a rolled-back `tx` send from one not yet committed.
with verdicts as materialized (
  select e.job_id, e.status, e.existing_id, e.detail
  from /*schema*/_enqueue($1::text::jsonb, $2::boolean) e
)
select job_id::text, status, existing_id::text, detail, null::text
from verdicts where status <> 'inserted'
union all
select null, 'inserted', null, count(*)::text, pg_current_xact_id()::text
from verdicts where status = 'inserted';

-- name: claimJobs
-- Takes up to $2 runnable jobs of queue $1 and leases them to consumer $3, in claim order, each
-- row with `more`; no job taken is one row of nulls with `more` alone. All of it is _claim
-- (migration 0009), whose statements are planned once per connection and always walk the claim
-- index: this statement has nothing left to plan. Filtered claims are claimJobsWhere.
select id, payload, attributes, attempt, lease_token, lease_ms, waited_ms, lease_expires_at,
       trace_context, more
from /*schema*/_claim($1::text, $2::integer, $3::text);

-- name: claimJobsWhere
-- Takes up to $2 runnable jobs of queue $1 whose attributes contain $4 and leases them to
-- consumer $3. Returned in claim order, each row with `more`; no job taken is one row of nulls
-- with `more` alone: the columns of claimJobs.
--
-- `more` answers, for a claim that came back short, whether runnable jobs are left that it
-- skipped: locked by another claim, or FOR SHARE by a send that names them in `after`, whose
-- lock ends with no NOTIFY (the consumer then looks again soon). It counts at most one row past
-- what the claim took, before the update (where the taken rows are still queued), so it reads no
-- more than the claim did. A full claim does not ask (`more` is true: look again).
--
-- Planned for each call's values (run unprepared: PLANNED_PER_CALL in src/db/queries.ts): a
-- selective filter needs the GIN index, which only a bitmap scan reads; a broad one the claim
-- index in order.
--
-- The claim's commit does not wait for the disk (synchronous_commit off, for this transaction
-- only): a worker starts a job one WAL flush sooner (milliseconds on a server that fsyncs). Safe
-- because a claim is the one write whose loss costs nothing but a redelivery: if the server
-- crashes before the claim reaches disk, the job is queued again as it was, the worker that
-- took it finds its lease gone, and its ack is fenced off, as after any lost lease. Sends, acks
-- and nacks keep waiting for the disk.
with queue as (
  -- clock_timestamp(), read once (a CTE with a volatile call is computed once): the start and
  -- lease of the claimed jobs, as _claim does (migration 0010).
  -- One random draw for the whole claim, from which each job's token is derived, as _claim
  -- does (migration 0012).
  select lease_ms, set_config('synchronous_commit', 'off', true), c.claimed_at,
         c.claimed_at + lease_ms * interval '1 millisecond' as expires_at,
         uuid_send(gen_random_uuid()) as claim_draw
  from /*schema*/_queues, (select clock_timestamp() as claimed_at) c
  where name = $1::text
), picked as (
  select id
  from /*schema*/_jobs
  where state = 'queued' and queue = $1::text and attributes @> $4::text::jsonb
  order by priority desc, run_at, id
  limit $2::integer
  for update skip locked
), taken as (
  select count(*)::integer as n from picked
), left_behind as (
  select case
           when (select n from taken) >= $2::integer then true
           else (select count(*) > (select n from taken)
                 from (select 1 from /*schema*/_jobs
                       where state = 'queued' and queue = $1::text
                         and attributes @> $4::text::jsonb
                       -- the claim's order, so the planner reads the claim's index from its head
                       order by priority desc, run_at, id
                       limit (select n from taken) + 1) runnable)
         end as more
), claimed as (
  update /*schema*/_jobs j
  set state = 'running',
      attempt = j.attempt + 1,
      lease_token = /*schema*/_lease_token(queue.claim_draw, j.id),  -- as _claim (migration 0012)
      lease_expires_at = queue.expires_at,
      leased_by = $3::text,
      started_at = queue.claimed_at
  from queue
  -- An array of ids, not a join with `picked`: the planner estimates a CTE's rows poorly and
  -- then hashes the whole table to join it (a seq scan per claim); `= any` reads the primary key.
  where j.id = any (array(select id from picked))
  returning j.id, j.priority, j.run_at, j.payload, j.attributes, j.attempt,
            j.lease_token, queue.lease_ms, j.lease_expires_at, j.trace_context, queue.claimed_at
)
select c.id::text, c.payload::text, c.attributes::text, c.attempt, c.lease_token::text, c.lease_ms,
       -- since it became runnable: the wake-up latency metric
       greatest(0, date_part('epoch', c.claimed_at - c.run_at) * 1000) as waited_ms,
       c.lease_expires_at,
       -- the producer's trace context (migration 0004), for the worker's span link
       c.trace_context,
       l.more
from left_behind l
left join claimed c on true
order by c.priority desc, c.run_at, c.id;

-- name: tickQueue
-- A consumer's timer for queue $1 fired: promote due delayed jobs, take back expired leases
-- (failing jobs whose last attempt expired), and say when to look again.
with promoted as (
  update /*schema*/_jobs
  set state = 'queued'
  where id in (
    select id from /*schema*/_jobs
    where state = 'scheduled' and queue = $1::text and run_at <= now()
    order by run_at
    limit 1000
    for update skip locked)
  returning 1
), expired as (
  select j.id, j.attempt >= coalesce(j.max_attempts, q.max_attempts) as exhausted
  from /*schema*/_jobs j
  join /*schema*/_queues q on q.name = j.queue
  where j.state = 'running' and j.queue = $1::text and j.lease_expires_at <= now()
  order by j.lease_expires_at
  limit 1000
  for update of j skip locked
), rescued as (
  update /*schema*/_jobs j
  set state = (case when e.exhausted then 'failed' else 'queued' end)::/*schema*/job_state,
      finished_at = case when e.exhausted then now() end,
      lease_token = null,
      lease_expires_at = null,
      errors = coalesce(j.errors, '[]'::jsonb) || jsonb_build_array(jsonb_build_object(
        'name', 'LeaseExpired',
        'message', format('the lease on attempt %s expired: its consumer (%s) stopped heartbeating',
                          j.attempt, coalesce(j.leased_by, 'unknown')),
        'attempt', j.attempt,
        'at', now()))
  from expired e
  where j.id = e.id and j.state = 'running' and j.lease_expires_at <= now()
  returning 1
)
select
  (select count(*) from promoted)::integer as promoted,
  (select count(*) from rescued)::integer as rescued,
  -- Due or expired rows this tick could not take (locked by another): look again soon.
  ((select count(*) from (
      select 1 from /*schema*/_jobs
      where state = 'scheduled' and queue = $1::text and run_at <= now() limit 1001) d)
   + (select count(*) from (
      select 1 from /*schema*/_jobs
      where state = 'running' and queue = $1::text and lease_expires_at <= now() limit 1001) e)
  )::integer as overdue,
  (select ceil(extract(epoch from min(run_at) - now()) * 1000)::bigint
     from /*schema*/_jobs
     where state = 'scheduled' and queue = $1::text and run_at > now()) as next_due_ms,
  (select ceil(extract(epoch from min(lease_expires_at) - now()) * 1000)::bigint
     from /*schema*/_jobs
     where state = 'running' and queue = $1::text and lease_expires_at > now()) as next_expiry_ms,
  exists (select 1 from /*schema*/_jobs where state = 'queued' and queue = $1::text) as has_ready,
  (select lease_ms from /*schema*/_queues where name = $1::text) as lease_ms,
  floor(extract(epoch from clock_timestamp()) * 1000)::bigint as db_now_ms;

-- name: heartbeatJobs
-- One statement per process per beat: extends every lease still held; the ids not returned
-- were lost (redelivered, cancelled or finished elsewhere).
with input as (
  select * from jsonb_to_recordset($1::text::jsonb) as h(id uuid, token uuid, lease_ms bigint)
)
update /*schema*/_jobs j
set lease_expires_at = now() + h.lease_ms * interval '1 millisecond'
from input h
where j.id = any (array(select id from input)) and j.id = h.id and j.lease_token = h.token
  and j.state::text = 'running'
returning j.id::text;

-- name: completeJobs
-- Acks, fenced by the lease token: a stale consumer's ack matches no row. The token stays on the
-- row, so an ack retried after a connection drop sees its own earlier success instead of
-- reporting a lost lease.
--
-- Answers with the leases it could not apply (a lost lease each), not the applied ones: almost
-- always no row at all, where a drain's batch of 1,000 acks read back 1,000 rows of two UUIDs.
--
-- The rows are found by primary key, whatever the statistics say. The state is compared as text
-- so that no partial index (running jobs, finished jobs) can stand in for the key: after an
-- ANALYZE that saw no running job, the planner otherwise walked every entry of the running
-- index, dead ones included, on each ack (700 acks with 20,000 jobs held: 38.8 ms → 5.5 ms;
-- server CPU per acked job in a claim/ack loop: 13.7 → 8.0 µs). The lookup of earlier successes
-- reads only the leases the update missed. Heartbeats, nacks and releases find their rows the
-- same way, and nacks and releases answer with what they missed too.
with input as (
  select * from jsonb_to_recordset($1::text::jsonb) as r(id uuid, token uuid, result jsonb)
), done as (
  update /*schema*/_jobs j
  set state = 'completed',
      result = i.result,
      finished_at = now(),
      lease_expires_at = null
  from input i
  where j.id = any (array(select id from input)) and j.id = i.id and j.lease_token = i.token
    and j.state::text = 'running'
  returning j.id, j.lease_token
), missed as (
  select m.id, m.token from input m
  where not exists (select from done d where d.id = m.id and d.lease_token = m.token)
)
select m.id::text, m.token::text
from missed m
where not exists (
  select from /*schema*/_jobs j
  where j.id = any (array(select id from missed)) and j.id = m.id and j.lease_token = m.token
    and j.state::text = 'completed');

-- name: failJobs
-- Nacks, fenced and idempotent like acks. Retry n waits delay * factor^(n-1), capped at the
-- queue's max, then ±20% jitter, all on the database clock; an explicit delay wins. The last attempt
-- fails the job for good.
with input as (
  select * from jsonb_to_recordset($1::text::jsonb) as r(id uuid, token uuid, error jsonb, delay_ms bigint)
), decided as (
  select j.id,
         i.token,
         j.attempt >= coalesce(j.max_attempts, q.max_attempts) as exhausted,
         coalesce(
           i.delay_ms::double precision,
           -- capped first, then jittered, so retries at the cap still spread out
           least(q.backoff_max_ms::double precision,
                 q.backoff_delay_ms * power(q.backoff_factor, least(j.attempt - 1, 100)))
             * (0.8 + random() * 0.4)) as delay_ms,
         coalesce(i.error, '{}'::jsonb) || jsonb_build_object('attempt', j.attempt, 'at', now()) as error
  from input i
  join /*schema*/_jobs j on j.id = i.id
  join /*schema*/_queues q on q.name = j.queue
  where j.id = any (array(select id from input))
), done as (
  update /*schema*/_jobs j
  set state = (case when d.exhausted then 'failed'
                    when d.delay_ms >= 1 then 'scheduled'
                    else 'queued' end)::/*schema*/job_state,
      -- No delay: back in line where it was (a consumer that let go, or an immediate retry).
      run_at = case when d.exhausted or d.delay_ms < 1 then j.run_at
                    else now() + d.delay_ms * interval '1 millisecond' end,
      finished_at = case when d.exhausted then now() end,
      lease_expires_at = null,
      errors = coalesce(j.errors, '[]'::jsonb) || jsonb_build_array(d.error)
  from decided d
  where j.id = d.id and j.lease_token = d.token and j.state::text = 'running'
  returning j.id, j.lease_token
), missed as (
  select m.id, m.token from input m
  where not exists (select from done d where d.id = m.id and d.lease_token = m.token)
)
select m.id::text, m.token::text
from missed m
where not exists (
  select from /*schema*/_jobs j
  where j.id = any (array(select id from missed)) and j.id = m.id and j.lease_token = m.token
    and j.state::text in ('queued', 'scheduled', 'failed'));

-- name: releaseJobs
-- Jobs claimed but never handed to a handler go back as they were: the attempt is not counted
-- and run_at is kept, so they keep their place in line.
with input as (
  select * from jsonb_to_recordset($1::text::jsonb) as r(id uuid, token uuid)
), done as (
  update /*schema*/_jobs j
  set state = 'queued',
      attempt = greatest(j.attempt - 1, 0),
      lease_expires_at = null
  from input i
  where j.id = any (array(select id from input)) and j.id = i.id and j.lease_token = i.token
    and j.state::text = 'running'
  returning j.id, j.lease_token
), missed as (
  select m.id, m.token from input m
  where not exists (select from done d where d.id = m.id and d.lease_token = m.token)
)
select m.id::text, m.token::text
from missed m
where not exists (
  select from /*schema*/_jobs j
  where j.id = any (array(select id from missed)) and j.id = m.id and j.lease_token = m.token
    and j.state::text = 'queued');

-- name: jobOutcomes
-- The state of jobs someone waits on; only finished ones settle a completion handle.
select id::text, queue, state::text, attempt, result::text, (errors -> -1)::text as last_error
from /*schema*/_jobs
where id = any($1::uuid[]);

-- name: transactionStates
-- Whether the transactions that wrote jobs (sent with tx) committed, rolled back or still run.
select x, pg_xact_status(x::xid8)
from unnest($1::text[]) as x;

-- name: jobStates
-- The state of jobs a consumer holds, to tell cancellation from a lost lease.
select id::text, state::text
from /*schema*/_jobs
where id = any($1::uuid[]);

-- name: getJob
select j.id::text, j.queue,
       (case when j.state in ('scheduled', 'waiting') then 'queued' else j.state::text end) as state,
       j.priority, j.run_at, j.payload::text, j.attributes::text, j.attempt,
       coalesce(j.max_attempts, q.max_attempts) as max_attempts,
       j.result::text, j.errors::text, j.leased_by, j.lease_expires_at,
       j.created_at, j.started_at, j.finished_at
from /*schema*/_jobs j
left join /*schema*/_queues q on q.name = j.queue
where j.id = $1::uuid and ($2::text is null or j.queue = $2::text);

-- name: listJobs
-- A page of jobs, newest first (ids are UUIDv7, so id order is creation order), of queue $1 and
-- in internal states $2 when given, older than the cursor $3. $2 arrives as an array literal
-- ('{failed}'): a connection opened before the migration made the enum cannot serialise a JS
-- array of it, and the server then parses the literal as a constant the planner can use. Run unprepared (src/db/queries.ts),
-- so each call is planned with its values: the filters not given fold away, and the planner can
-- pick a backward walk of the primary key (stopping after $4 matches: the newest pages, common
-- states) or _jobs_failed_idx (failed and cancelled jobs, rare in a large table).
-- docs/operator-explain.md shows the plans.
select j.id::text, j.queue,
       (case when j.state in ('scheduled', 'waiting') then 'queued' else j.state::text end) as state,
       j.priority, j.run_at, j.payload::text, j.attributes::text, j.attempt,
       coalesce(j.max_attempts, q.max_attempts) as max_attempts,
       j.result::text, j.errors::text, j.leased_by, j.lease_expires_at,
       j.created_at, j.started_at, j.finished_at
from /*schema*/_jobs j
left join /*schema*/_queues q on q.name = j.queue
where ($1::text is null or j.queue = $1::text)
  and ($2::/*schema*/job_state[] is null or j.state = any($2::/*schema*/job_state[]))
  and ($3::uuid is null or j.id < $3::uuid)
order by j.id desc
limit $4::integer;

-- name: extendLease
-- A remote (HTTP) consumer's heartbeat: extends one lease by its queue's lease time, fenced by
-- the token. No row: the lease is gone.
update /*schema*/_jobs j
set lease_expires_at = now() + q.lease_ms * interval '1 millisecond'
from /*schema*/_queues q
where q.name = j.queue and j.id = $1::uuid and j.lease_token = $2::uuid and j.state = 'running'
returning j.lease_expires_at;

-- name: cancelJobs
-- Dependents of cancelled jobs are cancelled too (by the update trigger).
update /*schema*/_jobs
set state = 'cancelled',
    finished_at = now(),
    lease_token = null,
    lease_expires_at = null
where queue = $1::text
  and id = any($2::uuid[])
  and state in ('waiting', 'scheduled', 'queued', 'running')
returning id::text;

-- name: cancelJobsWhere
-- Every unfinished job of queue $1 whose attributes contain $2.
update /*schema*/_jobs
set state = 'cancelled',
    finished_at = now(),
    lease_token = null,
    lease_expires_at = null
-- Two arms, so each reads its index (a BitmapOr): _jobs_attributes_idx for jobs not yet running,
-- _jobs_running_idx for the running ones (migration 0005).
where queue = $1::text
  and attributes @> $2::text::jsonb
  and (state in ('waiting', 'scheduled', 'queued') or state = 'running')
returning id::text;

-- name: retryJob
-- A failed or cancelled job gets a fresh set of attempts; its error history is kept. A job sent
-- with `after` waits again for those of its jobs that have not completed, and is not retried if
-- one of them failed or was cancelled (it could never run). Jobs of `after` that retention has
-- deleted count as completed: they had finished, and a dependency that failed cancelled this job
-- then. The jobs of `after` are locked FOR SHARE, as a send locks them: one that completes
-- meanwhile waits for this statement, and then finds this job waiting and releases it.
with parents as (
  select p.state::text as state
  from /*schema*/_jobs p
  where p.id = any (array(select unnest(j.after) from /*schema*/_jobs j
                          where j.queue = $1::text and j.id = $2::uuid))
  for share
)
update /*schema*/_jobs
set state = (case when exists (select from parents where state <> 'completed') then 'waiting'
                  else 'queued' end)::/*schema*/job_state,
    attempt = 0,
    run_at = now(),
    result = null,
    finished_at = null,
    lease_token = null,
    leased_by = null
where queue = $1::text and id = $2::uuid and state in ('failed', 'cancelled')
  and not exists (select from parents where state in ('failed', 'cancelled'))
returning id::text;

-- name: queueStats
-- Each count reads its own partial index (index-only scans); finished jobs are counted in
-- _jobs_finished_idx, which retention keeps bounded.
select 'queued', count(*)::bigint from /*schema*/_jobs where queue = $1::text and state = 'queued'
union all
select 'waiting', count(*) from /*schema*/_jobs where queue = $1::text and state = 'waiting'
union all
select 'scheduled', count(*) from /*schema*/_jobs where queue = $1::text and state = 'scheduled'
union all
select 'running', count(*) from /*schema*/_jobs where queue = $1::text and state = 'running'
union all
select state::text, count(*)
from /*schema*/_jobs
where queue = $1::text and state in ('completed', 'failed', 'cancelled')
group by state;

-- name: retentionDueIn
-- Milliseconds until the oldest finished job of any queue outlives its queue's retention (null:
-- nothing finished). One index probe per queue (_jobs_finished_idx).
select ceil(extract(epoch from min(o.finished_at + q.retention_ms * interval '1 millisecond')
                               - clock_timestamp()) * 1000)::bigint
from /*schema*/_queues q
cross join lateral (
  select finished_at from /*schema*/_jobs
  where queue = q.name and state in ('completed', 'failed', 'cancelled')
  order by finished_at
  limit 1) o;

-- name: deleteExpired
-- One batch ($1 jobs at most) of finished jobs past their queue's retention, oldest first.
-- One process at a time: a batch runs only if it takes the cleaner's transaction lock. The
-- doomed ids go to the delete as an array, read through the primary key (as in claimJobs).
-- The delete matches each row's finish time as read: a job retried (or retried and finished
-- again) since is a new row version that the delete, re-checking it after the retry's commit,
-- leaves alone. Matching on the id alone deleted a job `retry` had just put back in the queue.
with allowed as (
  select pg_try_advisory_xact_lock(hashtextextended(/*literal:schema*/'pgwake' || ':cleaner', 0)) as yes
), doomed as (
  select j.id, j.finished_at
  from /*schema*/_queues q
  cross join lateral (
    select id, finished_at from /*schema*/_jobs
    where queue = q.name and state in ('completed', 'failed', 'cancelled')
      and finished_at < now() - q.retention_ms * interval '1 millisecond'
    order by finished_at
    limit $1::integer) j
  where (select yes from allowed)
  limit $1::integer
), deleted as (
  delete from /*schema*/_jobs x
  using doomed d
  where x.id = any (array(select id from doomed)) and x.id = d.id
    and x.finished_at = d.finished_at
  returning 1
)
select (select yes from allowed), (select count(*) from deleted)::integer;
