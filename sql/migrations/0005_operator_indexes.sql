-- Attribute filters select unfinished jobs: a filtered claim reads queued ones, and
-- cancel({ filter }) every unfinished state (waiting, scheduled, queued, running). 0002's GIN index
-- covered queued jobs only, so a cancel by filter read the whole table, finished jobs included
-- (docs/claim-explain.md: 1,111,000 rows, 140 ms for 112 matches). Covering every unfinished
-- state serves both: state = 'queued' implies the predicate, so the claim keeps its plans.
-- Finished jobs, the bulk of the table, stay out of it.
drop index /*schema*/_jobs_attributes_idx;
create index _jobs_attributes_idx on /*schema*/_jobs using gin (attributes jsonb_path_ops)
  where state in ('waiting', 'scheduled', 'queued', 'running') and attributes is not null;

-- Listing failed or cancelled jobs (the dashboard, `client.jobs({ state: 'failed' })`), newest
-- first: they are rare among finished jobs, so walking the primary key for them could read most
-- of the table. This index holds only them, and is written only when a job fails or is cancelled.
create index _jobs_failed_idx on /*schema*/_jobs (queue, id) where state in ('failed', 'cancelled');
