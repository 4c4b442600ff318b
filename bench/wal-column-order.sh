#!/usr/bin/env bash
# How much WAL a job's two updates (claim, then ack) write, with the jobs table's columns in
# migration 0010's order against the same columns with every column those updates change placed
# last (close to what migration 0011 made; bench/drain-profile.ts measures the real table).
#
# Why it can matter: when an update's new row version lands on the same page as the old one,
# PostgreSQL logs only the bytes between the first and the last that differ (wal_level replica;
# log_heap_update's prefix/suffix compression). In 0010 `state` is the third column and the lease,
# result and timestamps come after the payload, so every claim and every ack logs the payload
# again. With the changing columns last, only they are logged.
#
#   DATABASE_URL=postgres://postgres@127.0.0.1:5440/postgres bash bench/wal-column-order.sh
#   N=50000 PAYLOADS="20 500" FILLFACTORS="100 80" bash bench/wal-column-order.sh
#
# It makes the schema pgwake_wal_order (dropped at the end), two tables with the jobs table's
# columns and indexes as of migration 0010 (no triggers), and for each payload size and
# fillfactor inserts N queued jobs into each, then claims them 500 at a time and acks each batch,
# every statement its own transaction, as workers do. It prints WAL bytes per job, read from
# pg_current_wal_insert_lsn() (a checkpoint first, so both tables pay for full-page images
# alike). It writes nothing else. Needs psql.
set -euo pipefail

URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
N=${N:-50000}
PAYLOADS=${PAYLOADS:-"20 500"}
FILLFACTORS=${FILLFACTORS:-"100 80"}
S=pgwake_wal_order
psql_() { PGOPTIONS="-c client_min_messages=warning" psql "$URL" -qAtX -v ON_ERROR_STOP=1 "$@"; }

indexes() { # table
  cat <<SQL
create index on $S.$1 (queue, priority desc, run_at, id) where state = 'queued';
create index on $S.$1 (queue, run_at) where state = 'scheduled';
create index on $S.$1 (queue, lease_expires_at) where state = 'running';
create index on $S.$1 (queue, finished_at) include (state) where state in ('completed', 'failed', 'cancelled');
create unique index on $S.$1 (queue, key) where key is not null and state in ('waiting', 'scheduled', 'queued', 'running');
create index on $S.$1 using gin (after) where state = 'waiting';
create index on $S.$1 (queue) where state = 'waiting';
create index on $S.$1 using gin (attributes jsonb_path_ops) where state in ('waiting', 'scheduled', 'queued') and attributes is not null;
create index on $S.$1 (queue, id) where state in ('failed', 'cancelled');
SQL
}

psql_ <<SQL
drop schema if exists $S cascade;
create schema $S;
create type $S.job_state as enum ('waiting', 'scheduled', 'queued', 'running', 'completed', 'failed', 'cancelled');
-- The order of migrations 0001-0010.
create table $S.today (
  id uuid primary key, queue text not null, state $S.job_state not null default 'queued',
  priority integer not null default 0, run_at timestamptz not null default now(),
  payload jsonb not null, attributes jsonb, attempt integer not null default 0,
  max_attempts integer, lease_token uuid, lease_expires_at timestamptz, leased_by text,
  result jsonb, errors jsonb, created_at timestamptz not null default now(),
  started_at timestamptz, finished_at timestamptz, key text, after uuid[], trace_context text);
-- The same columns, those a claim or an ack changes last.
create table $S.changing_last (
  id uuid primary key, queue text not null, priority integer not null default 0,
  run_at timestamptz not null default now(), created_at timestamptz not null default now(),
  max_attempts integer, key text, after uuid[], trace_context text, payload jsonb not null,
  attributes jsonb, state $S.job_state not null default 'queued',
  attempt integer not null default 0, lease_token uuid, lease_expires_at timestamptz,
  leased_by text, started_at timestamptz, result jsonb, errors jsonb, finished_at timestamptz);
$(indexes today)
$(indexes changing_last)
SQL

measure() { # table payload-bytes fillfactor
  local t=$1 bytes=$2 ff=$3
  psql_ -c "truncate $S.$t" -c "alter table $S.$t set (fillfactor = $ff)"
  psql_ -c "insert into $S.$t (id, queue, payload)
            select gen_random_uuid(), 'q', jsonb_build_object('n', g, 'pad', repeat('x', $bytes))
            from generate_series(1, $N) g"
  psql_ -c "vacuum analyze $S.$t"
  psql_ -c "checkpoint"
  local start
  start=$(psql_ -c "select pg_current_wal_insert_lsn()")
  psql_ -c "do \$\$
    declare ids uuid[];
    begin
      loop
        select array_agg(id) into ids from (
          select id from $S.$t where state = 'queued' order by id limit 500 for update skip locked) s;
        exit when ids is null;
        update $S.$t set state = 'running', attempt = attempt + 1, lease_token = gen_random_uuid(),
          lease_expires_at = now() + interval '30 seconds', leased_by = 'w', started_at = now()
        where id = any (ids);
        commit;
        update $S.$t set state = 'completed', result = 'null'::jsonb, finished_at = now(),
          lease_expires_at = null
        where id = any (ids);
        commit;
      end loop;
    end \$\$"
  local perJob
  perJob=$(psql_ -c "select round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$start') / $N)")
  printf '%-14s payload %4s B  fillfactor %3s  %6s bytes of WAL per job\n' "$t" "$bytes" "$ff" "$perJob"
}

for bytes in $PAYLOADS; do
  for ff in $FILLFACTORS; do
    measure today "$bytes" "$ff"
    measure changing_last "$bytes" "$ff"
  done
done
psql_ -c "drop schema $S cascade"
