-- Attribute filters select unfinished jobs: a filtered claim reads queued ones, and
-- cancel({ filter }) every unfinished state (waiting, scheduled, queued, running). 0002's GIN index
-- covered queued jobs only, so a cancel by filter read the whole table, finished jobs included
-- (docs/claim-explain.md: 1,111,000 rows, 140 ms for 112 matches). This one covers the waiting,
-- delayed and queued jobs: state = 'queued' implies its predicate, so the claim keeps its plans.
-- Running jobs stay out on purpose: every claim and every heartbeat would add an entry (a
-- heartbeat is never a HOT update), which filtered lookups read until a vacuum. The cancel finds
-- running jobs, few by nature, through _jobs_running_idx instead (a BitmapOr of the two).
drop index /*schema*/_jobs_attributes_idx;
create index _jobs_attributes_idx on /*schema*/_jobs using gin (attributes jsonb_path_ops)
  where state in ('waiting', 'scheduled', 'queued') and attributes is not null;

-- Listing failed or cancelled jobs (the dashboard, `client.jobs({ state: 'failed' })`), newest
-- first: they are rare among finished jobs, so walking the primary key for them could read most
-- of the table. This index holds only them, and is written only when a job fails or is cancelled.
create index _jobs_failed_idx on /*schema*/_jobs (queue, id) where state in ('failed', 'cancelled');
