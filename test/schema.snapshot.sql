column _jobs.id uuid not null default uuid_v7()
column _jobs.queue text not null
column _jobs.priority integer not null default 0
column _jobs.run_at timestamp with time zone not null default now()
column _jobs.created_at timestamp with time zone not null default now()
column _jobs.max_attempts integer
column _jobs.key text
column _jobs.after uuid[]
column _jobs.trace_context text
column _jobs.attributes jsonb
column _jobs.payload jsonb not null
column _jobs.attempt integer not null default 0
column _jobs.lease_token uuid
column _jobs.leased_by text
column _jobs.started_at timestamp with time zone
column _jobs.state job_state not null default 'queued'::job_state
column _jobs.lease_expires_at timestamp with time zone
column _jobs.result jsonb
column _jobs.errors jsonb
column _jobs.finished_at timestamp with time zone
column _migration_log.version integer not null
column _migration_log.name text not null
column _migration_log.min_client_version integer not null
column _migration_log.applied_at timestamp with time zone not null default now()
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
column _schedules.name text not null
column _schedules.queue text not null
column _schedules.cron text
column _schedules.every_ms bigint
column _schedules.timezone text
column _schedules.payload jsonb not null default 'null'::jsonb
column _schedules.options jsonb not null default '{}'::jsonb
column _schedules.next_run_at timestamp with time zone not null
column _schedules.last_run_at timestamp with time zone
column _schedules.last_job_id uuid
column _schedules.created_at timestamp with time zone not null default now()
column _schedules.updated_at timestamp with time zone not null default now()
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
column jobs.key text
column jobs.after uuid[]
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
column schedules.name text
column schedules.queue text
column schedules.cron text
column schedules.every_ms bigint
column schedules.timezone text
column schedules.payload jsonb
column schedules.options jsonb
column schedules.next_run_at timestamp with time zone
column schedules.last_run_at timestamp with time zone
column schedules.last_job_id uuid
column schedules.created_at timestamp with time zone
column schedules.updated_at timestamp with time zone
index CREATE INDEX _jobs_attributes_idx ON _jobs USING gin (attributes jsonb_path_ops) WHERE ((state = ANY (ARRAY['waiting'::job_state, 'scheduled'::job_state, 'queued'::job_state])) AND (attributes IS NOT NULL))
index CREATE INDEX _jobs_claim_idx ON _jobs USING btree (queue, priority DESC, run_at, id) WHERE (state = 'queued'::job_state)
index CREATE INDEX _jobs_failed_idx ON _jobs USING btree (queue, id) WHERE (state = ANY (ARRAY['failed'::job_state, 'cancelled'::job_state]))
index CREATE INDEX _jobs_finished_idx ON _jobs USING btree (queue, finished_at) INCLUDE (state) WHERE (state = ANY (ARRAY['completed'::job_state, 'failed'::job_state, 'cancelled'::job_state]))
index CREATE UNIQUE INDEX _jobs_key_idx ON _jobs USING btree (queue, key) WHERE ((key IS NOT NULL) AND (state = ANY (ARRAY['waiting'::job_state, 'scheduled'::job_state, 'queued'::job_state, 'running'::job_state])))
index CREATE UNIQUE INDEX _jobs_pkey ON _jobs USING btree (id)
index CREATE INDEX _jobs_running_idx ON _jobs USING btree (queue, lease_expires_at) WHERE (state = 'running'::job_state)
index CREATE INDEX _jobs_scheduled_idx ON _jobs USING btree (queue, run_at) WHERE (state = 'scheduled'::job_state)
index CREATE INDEX _jobs_waiting_after_idx ON _jobs USING gin (after) WHERE (state = 'waiting'::job_state)
index CREATE INDEX _jobs_waiting_idx ON _jobs USING btree (queue) WHERE (state = 'waiting'::job_state)
index CREATE UNIQUE INDEX _migration_log_pkey ON _migration_log USING btree (version)
index CREATE UNIQUE INDEX _migrations_pkey ON _migrations USING btree (version)
index CREATE UNIQUE INDEX _queues_pkey ON _queues USING btree (name)
index CREATE UNIQUE INDEX _schedules_pkey ON _schedules USING btree (name)
constraint _jobs_max_attempts_check CHECK ((max_attempts >= 1))
constraint _jobs_pkey PRIMARY KEY (id)
constraint _migration_log_pkey PRIMARY KEY (version)
constraint _migrations_pkey PRIMARY KEY (version)
constraint _queues_backoff_delay_ms_check CHECK ((backoff_delay_ms >= 0))
constraint _queues_backoff_factor_check CHECK ((backoff_factor >= (1)::double precision))
constraint _queues_backoff_max_ms_check CHECK ((backoff_max_ms >= 0))
constraint _queues_lease_ms_check CHECK ((lease_ms > 0))
constraint _queues_max_attempts_check CHECK ((max_attempts >= 1))
constraint _queues_max_size_check CHECK ((max_size >= 1))
constraint _queues_pkey PRIMARY KEY (name)
constraint _queues_retention_ms_check CHECK ((retention_ms >= 0))
constraint _schedules_check CHECK (((cron IS NULL) <> (every_ms IS NULL)))
constraint _schedules_every_ms_check CHECK ((every_ms >= 1000))
constraint _schedules_pkey PRIMARY KEY (name)
trigger CREATE TRIGGER _jobs_after_insert AFTER INSERT ON _jobs REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION _jobs_after_insert()
trigger CREATE TRIGGER _jobs_after_update AFTER UPDATE ON _jobs REFERENCING OLD TABLE AS previous NEW TABLE AS updated FOR EACH STATEMENT EXECUTE FUNCTION _jobs_after_update()
trigger CREATE TRIGGER _schedules_changed AFTER INSERT OR DELETE OR UPDATE OF cron, every_ms, timezone ON _schedules FOR EACH STATEMENT EXECUTE FUNCTION _schedules_changed()
function _admit(queue text, max_size integer) md5 3529048a7a4f7edee3554bf6ff0d8b59
function _check_payload(payload jsonb) md5 6ff978492c8b18de1d03f167c6fc9b5f
function _claim(queue text, lim integer, consumer text) md5 6d989f49e9e5376b0850deff99ccd77f
function _claim_pick(queue text, lim integer) md5 9eb4678ee25e324f0c507a1cbe5bb3c5
function _describe(v jsonb) md5 b7a2861af98245ea0b31d38381313ab6
function _enqueue(jobs jsonb, atomic boolean) md5 18c331a46d16068140a9a162d45cb696
function _fire_schedule(name text, expected timestamp with time zone, next timestamp with time zone) md5 cc382fe0f4161b2b26e3dbad7d0a81f4
function _jobs_after_insert() md5 3762f2dc1c19247b61bf91e63db669c5
function _jobs_after_update() md5 1699a7a269d41d18b20f69c31ed9b21a
function _lease_token(draw bytea, job_id uuid) md5 8be69607e27583ed823a93cc170b36b8
function _notify_done(queue text, state job_state, ids uuid[]) md5 96f93c630cf61a6d8ad7935f7c4485eb
function _notify_ready(queue text, ready bigint, next_run_at timestamp with time zone) md5 28dd40fe8aa6b266cd9f0f21903079a5
function _schedules_changed() md5 167d11418c946c7f47c9f2f53068d938
function _send_options(options jsonb) md5 9d6fc452798816e137be509a994d8856
function _settle_dependents(done uuid[], broken uuid[]) md5 45c3038c0d6b24ccf43a039a2b583e71
function _utf16_length(s text) md5 0f68cbca04fef30fd62007893acfc3de
function send(queue text, payload jsonb, options jsonb) md5 eb6b0b1cce0bada69ef65c9e9709b57f
function uuid_v7() md5 9c0a3aa2c1ddb184ec068836316c5196
enum job_state (waiting, scheduled, queued, running, completed, failed, cancelled)
options _jobs fillfactor=50, autovacuum_vacuum_scale_factor=0.02, autovacuum_vacuum_insert_scale_factor=0.05, autovacuum_analyze_scale_factor=0.02, autovacuum_vacuum_cost_delay=0
