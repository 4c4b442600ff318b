-- pgwake: compatible
-- pgwake 0007: the claim walks its index in order whatever the statistics say.
--
-- A jobs table filled faster than autovacuum analyzes it (a fresh schema given a backlog, a
-- table that grew from nearly empty) has no statistics, or stale ones, saying it holds a handful
-- of queued jobs. The planner then reads the claim through a bitmap scan of _jobs_claim_idx:
-- every queued job of the queue, fetched and sorted, to take the first few hundred. Measured on
-- 400,000 queued jobs before their first ANALYZE: 160 ms per claim of 477 (a drain at 5,800
-- jobs/s), then 7.7 ms once autovacuum had analyzed the table (44,000 jobs/s).
--
-- An unfiltered claim wants the index's order and nothing else, so it is planned in a function
-- that turns bitmap scans off for its own statements (the SET clause lasts for the call). A
-- filtered claim keeps its statement: a selective filter needs the GIN index, which only a bitmap
-- scan reads. Older clients do not call this function, so they keep working (the line above).

-- Up to `lim` runnable jobs of `queue`, in claim order, locked for the caller's transaction (the
-- claim statement updates them next), and `more`: whether runnable jobs are left that this pick
-- skipped (locked by another claim, or FOR SHARE by a send naming them in `after`). A full pick
-- does not count (`more` is true: look again). No job taken is one row: (null, more).
create function /*schema*/_claim_pick(queue text, lim integer)
returns table (id uuid, more boolean)
language plpgsql volatile
set enable_bitmapscan = off
as $$
declare
  picked uuid[];
  taken integer;
  left_behind boolean;
begin
  select array_agg(p.id) into picked
  from (
    select j.id
    from /*schema*/_jobs j
    where j.state = 'queued' and j.queue = _claim_pick.queue
    order by j.priority desc, j.run_at, j.id
    limit lim
    for update skip locked
  ) p;
  taken := coalesce(cardinality(picked), 0);
  if taken >= lim then
    left_behind := true;
  else
    -- Counts at most one row past what was taken; the taken rows are still queued here.
    select count(*) > taken into left_behind
    from (
      select 1
      from /*schema*/_jobs j
      where j.state = 'queued' and j.queue = _claim_pick.queue
      order by j.priority desc, j.run_at, j.id
      limit taken + 1
    ) runnable;
  end if;
  if taken = 0 then
    return query select null::uuid, left_behind;
  else
    return query select p, left_behind from unnest(picked) as p;
  end if;
end
$$;
