column _jobs.id uuid not null default uuid_v7()
column _jobs.queue text not null
column _jobs.state job_state not null default 'queued'::job_state
column _jobs.priority integer not null default 0
column _jobs.run_at timestamp with time zone not null default now()
column _jobs.payload jsonb not null
column _jobs.attributes jsonb
column _jobs.attempt integer not null default 0
column _jobs.max_attempts integer
column _jobs.lease_token uuid
column _jobs.lease_expires_at timestamp with time zone
column _jobs.leased_by text
column _jobs.result jsonb
column _jobs.errors jsonb
column _jobs.created_at timestamp with time zone not null default now()
column _jobs.started_at timestamp with time zone
column _jobs.finished_at timestamp with time zone
column _migrations.version integer not null
column _migrations.name text not null
column _migrations.applied_at timestamp with time zone not null default now()
column _queues.name text not null
column _queues.max_attempts integer not null default 5
column _queues.backoff_delay_ms bigint not null default 1000
column _queues.backoff_factor double precision not null default 2
column _queues.backoff_max_ms bigint not null default 3600000
column _queues.lease_ms bigint not null default 30000
column _queues.max_size integer
column _queues.dead_letter text
column _queues.retention_ms bigint not null default 604800000
column _queues.created_at timestamp with time zone not null default now()
column _queues.updated_at timestamp with time zone not null default now()
column jobs.id uuid
column jobs.queue text
column jobs.state text
column jobs.priority integer
column jobs.run_at timestamp with time zone
column jobs.payload jsonb
column jobs.attributes jsonb
column jobs.attempt integer
column jobs.max_attempts integer
column jobs.result jsonb
column jobs.errors jsonb
column jobs.leased_by text
column jobs.lease_expires_at timestamp with time zone
column jobs.created_at timestamp with time zone
column jobs.started_at timestamp with time zone
column jobs.finished_at timestamp with time zone
column queues.name text
column queues.max_attempts integer
column queues.backoff_delay_ms bigint
column queues.backoff_factor double precision
column queues.backoff_max_ms bigint
column queues.lease_ms bigint
column queues.max_size integer
column queues.dead_letter text
column queues.retention_ms bigint
column queues.created_at timestamp with time zone
column queues.updated_at timestamp with time zone
index CREATE INDEX _jobs_claim_idx ON _jobs USING btree (queue, priority DESC, run_at, id) WHERE (state = 'queued'::job_state)
index CREATE INDEX _jobs_finished_idx ON _jobs USING btree (queue, finished_at) INCLUDE (state) WHERE (state = ANY (ARRAY['completed'::job_state, 'failed'::job_state, 'cancelled'::job_state]))
index CREATE UNIQUE INDEX _jobs_pkey ON _jobs USING btree (id)
index CREATE INDEX _jobs_running_idx ON _jobs USING btree (queue, lease_expires_at) WHERE (state = 'running'::job_state)
index CREATE INDEX _jobs_scheduled_idx ON _jobs USING btree (queue, run_at) WHERE (state = 'scheduled'::job_state)
index CREATE UNIQUE INDEX _migrations_pkey ON _migrations USING btree (version)
index CREATE UNIQUE INDEX _queues_pkey ON _queues USING btree (name)
constraint _jobs_max_attempts_check CHECK ((max_attempts >= 1))
constraint _jobs_pkey PRIMARY KEY (id)
constraint _migrations_pkey PRIMARY KEY (version)
constraint _queues_backoff_delay_ms_check CHECK ((backoff_delay_ms >= 0))
constraint _queues_backoff_factor_check CHECK ((backoff_factor >= (1)::double precision))
constraint _queues_backoff_max_ms_check CHECK ((backoff_max_ms >= 0))
constraint _queues_lease_ms_check CHECK ((lease_ms > 0))
constraint _queues_max_attempts_check CHECK ((max_attempts >= 1))
constraint _queues_max_size_check CHECK ((max_size >= 1))
constraint _queues_pkey PRIMARY KEY (name)
constraint _queues_retention_ms_check CHECK ((retention_ms >= 0))
trigger CREATE TRIGGER _jobs_after_insert AFTER INSERT ON _jobs REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION _jobs_after_insert()
trigger CREATE TRIGGER _jobs_after_update AFTER UPDATE ON _jobs REFERENCING OLD TABLE AS previous NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION _jobs_after_update()
function _jobs_after_insert() md5 4cf859908075069e53a065340b495ff5
function _jobs_after_update() md5 2717ee73a229dec16e74691f819b1fde
function _notify_ready(queue text, ready bigint, next_run_at timestamp with time zone) md5 28dd40fe8aa6b266cd9f0f21903079a5
function uuid_v7() md5 9c0a3aa2c1ddb184ec068836316c5196
enum job_state (scheduled, queued, running, completed, failed, cancelled)
options _jobs autovacuum_vacuum_scale_factor=0.02, autovacuum_vacuum_insert_scale_factor=0.05, autovacuum_analyze_scale_factor=0.02
