/**
 * What the chaos test's jobs are: a payload, the result a handler must derive from it (so a
 * completed job can be checked to carry its own result, not another job's), and the side tables
 * that record what happened independently of pgwake's own bookkeeping.
 */
import { createHash } from "node:crypto";
import type postgres from "postgres";

export const QUEUE = "chaos";

export interface ChaosPayload {
  n: number;
  token: string;
}

export interface ChaosResult {
  /** Derived from the payload alone. */
  digest: string;
  /** The delivery that produced it, and the process that ran it. */
  attempt: number;
  pid: number;
}

export function digestOf(payload: ChaosPayload): string {
  return createHash("sha256").update(`${payload.n}:${payload.token}`).digest("hex").slice(0, 16);
}

/**
 * `chaos.runs`: one row per handler execution, written by the handler itself before it does its
 * work (an execution whose insert failed never ran its work, and is retried).
 * `chaos.completions`: one row per transition of a job into `completed`, written by a row
 * trigger on pgwake's jobs table, so a job completed twice (a stale ack that got through the
 * fence) shows up as two rows whoever acked.
 */
export async function createSideTables(sql: postgres.Sql, schema: string): Promise<void> {
  await sql.unsafe(`
    create schema chaos;
    create table chaos.runs (
      job_id uuid not null,
      attempt integer not null,
      pid integer not null,
      at timestamptz not null default clock_timestamp()
    );
    create index on chaos.runs (job_id);
    create table chaos.completions (
      job_id uuid not null,
      attempt integer not null,
      result jsonb,
      at timestamptz not null default clock_timestamp()
    );
    create function chaos.record_completion() returns trigger language plpgsql as $$
    begin
      insert into chaos.completions (job_id, attempt, result) values (new.id, new.attempt, new.result);
      return null;
    end $$;
    create trigger chaos_completion after update on "${schema}"._jobs
      for each row when (new.state = 'completed' and old.state is distinct from 'completed')
      execute function chaos.record_completion();`);
}
