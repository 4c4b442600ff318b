/**
 * The chaos test's verdict, read from the database and the producer's records once the run is
 * over. What is counted:
 *
 * - an **execution** is a handler run that got as far as recording itself (`chaos.runs`);
 * - a **completion** is a transition of a job into `completed`, recorded by a row trigger
 *   (`chaos.completions`), whoever caused it;
 * - **redeliveries** are executions beyond the first, per job (at-least-once delivery makes them
 *   legal: a worker killed mid-job, or one whose lease lapsed while the database was down).
 *
 * The promises checked: every job is completed exactly once (one completion row, no worker
 * reporting a second applied ack), with the result derived from its own payload and produced by
 * the delivery that holds the lease at the end (a stale ack is fenced); none is left queued or
 * running; every `completed` of a send that resolved resolved too, and every other one settled.
 */
import type postgres from "postgres";
import { PgwakeError } from "../../src/index.js";
import { digestOf, QUEUE, type ChaosPayload, type ChaosResult } from "./jobs.js";
import type { SentRecord } from "./producer.js";

export interface Verdict {
  /** Everything that broke a promise; empty when the run passed. */
  problems: string[];
  jobs: number;
  sendsResolved: number;
  sendsRejected: number;
  executions: number;
  /** Executions beyond the first, summed over jobs. */
  redeliveries: number;
  /** Jobs executed more than once. */
  jobsRedelivered: number;
  completions: number;
  /** `completed` promises still pending at the deadline. */
  hanging: number;
}

interface JobRow {
  id: string;
  state: string;
  attempt: number;
  payload: ChaosPayload;
  result: ChaosResult | null;
  /** For a job left unfinished: how long ago it was due, its lease and its errors. */
  detail: string;
}

/** At most this many examples of each problem are listed. */
const EXAMPLES = 5;

export async function verify(
  sql: postgres.Sql,
  schema: string,
  records: SentRecord[],
  acks: Map<string, number>,
): Promise<Verdict> {
  const problems: string[] = [];
  const report = (what: string, examples: string[]): void => {
    if (examples.length === 0) return;
    const shown = examples.slice(0, EXAMPLES).join("; ");
    problems.push(
      `${what}: ${examples.length} (${shown}${examples.length > EXAMPLES ? "; …" : ""})`,
    );
  };

  const jobs = await sql.unsafe<JobRow[]>(
    `select id::text, state::text, attempt, payload, result,
            case when state <> 'completed' then concat_ws(' ',
              'attempt ' || attempt,
              'due ' || round(extract(epoch from now() - run_at) * 1000) || ' ms ago',
              'leased by ' || leased_by,
              'lease ends in ' || round(extract(epoch from lease_expires_at - now()) * 1000) || ' ms',
              'errors ' || (select string_agg(e->>'message', ' | ') from jsonb_array_elements(errors) e))
            else '' end as detail
       from "${schema}"._jobs where queue = $1`,
    [QUEUE],
  );
  const byId = new Map(jobs.map((job) => [job.id, job]));
  const runs = await sql<Array<{ jobId: string; attempt: number; pid: number }>>`
    select job_id::text as "jobId", attempt, pid from chaos.runs`;
  const completions = await sql<Array<{ jobId: string; n: number }>>`
    select job_id::text as "jobId", count(*)::integer as n from chaos.completions group by job_id`;

  const runsOf = new Map<string, number>();
  const ranAs = new Set<string>();
  for (const run of runs) {
    runsOf.set(run.jobId, (runsOf.get(run.jobId) ?? 0) + 1);
    ranAs.add(`${run.jobId}:${run.attempt}:${run.pid}`);
  }
  const completionsOf = new Map(completions.map((row) => [row.jobId, row.n]));

  // Every job in the table, whether its send resolved or not (a send can commit and still
  // reject, when the connection drops before the answer arrives).
  report(
    "jobs not completed",
    jobs
      .filter((job) => job.state !== "completed")
      .map((job) => `${job.id} ${job.state}: ${job.detail}`),
  );
  report(
    "jobs completed more or less than once",
    jobs
      .filter((job) => job.state === "completed" && completionsOf.get(job.id) !== 1)
      .map((job) => `${job.id} ×${completionsOf.get(job.id) ?? 0}`),
  );
  report(
    "jobs acked by more than one worker (or twice)",
    [...acks].filter(([, n]) => n > 1).map(([id, n]) => `${id} ×${n}`),
  );
  report(
    "completed jobs whose result is not their own",
    jobs
      .filter((job) => job.result && job.result.digest !== digestOf(job.payload))
      .map((job) => job.id),
  );
  report(
    "completed by a stale delivery (the result's attempt is not the job's last)",
    jobs
      .filter((job) => job.result && job.result.attempt !== job.attempt)
      .map((job) => `${job.id} result of attempt ${job.result!.attempt}, job at ${job.attempt}`),
  );
  report(
    "completed without a recorded execution of that delivery",
    jobs
      .filter(
        (job) => job.result && !ranAs.has(`${job.id}:${job.result.attempt}:${job.result.pid}`),
      )
      .map((job) => job.id),
  );

  checkPromises(records, byId, report);

  let redeliveries = 0;
  let jobsRedelivered = 0;
  for (const n of runsOf.values()) {
    redeliveries += n - 1;
    if (n > 1) jobsRedelivered++;
  }
  return {
    problems,
    jobs: jobs.length,
    sendsResolved: records.filter((r) => r.send.state === "resolved").length,
    sendsRejected: records.filter((r) => r.send.state === "rejected").length,
    executions: runs.length,
    redeliveries,
    jobsRedelivered,
    completions: [...completionsOf.values()].reduce((sum, n) => sum + n, 0),
    hanging: records.filter((r) => r.completed.state === "pending").length,
  };
}

/** The producer's side: what each send and each `completed` came to. */
function checkPromises(
  records: SentRecord[],
  byId: Map<string, JobRow>,
  report: (what: string, examples: string[]) => void,
): void {
  const resolved = records.filter((r) => r.send.state === "resolved");
  const idOf = (r: SentRecord): string => (r.send.state === "resolved" ? r.send.value : "?");
  report(
    "sends that resolved but whose job is missing",
    resolved.filter((r) => !byId.has(idOf(r))).map(idOf),
  );
  report(
    "sends that never settled",
    records.filter((r) => r.send.state === "pending").map((r) => `n=${r.payload.n}`),
  );
  report(
    "completed promises that never settled",
    records
      .filter((r) => r.completed.state === "pending")
      .map(
        (r) =>
          `n=${r.payload.n} send ${r.send.state}${r.send.state === "resolved" ? ` ${idOf(r)}` : ""}`,
      ),
  );
  report(
    "completed promises of resolved sends that rejected",
    resolved
      .filter((r) => r.completed.state === "rejected")
      .map((r) => `${idOf(r)}: ${describe(r.completed.state === "rejected" && r.completed.error)}`),
  );
  report(
    "completed promises that resolved with another job's result",
    records
      .filter(
        (r) => r.completed.state === "resolved" && r.completed.value.digest !== digestOf(r.payload),
      )
      .map((r) => `n=${r.payload.n}`),
  );
  report(
    "completed promises that resolved with a result the database does not hold",
    resolved
      .filter((r) => {
        const row = byId.get(idOf(r));
        return (
          r.completed.state === "resolved" &&
          row?.result &&
          (row.result.pid !== r.completed.value.pid ||
            row.result.attempt !== r.completed.value.attempt)
        );
      })
      .map(idOf),
  );
  report(
    "sends that rejected with an error that is not a PgwakeError",
    records
      .filter((r) => r.send.state === "rejected" && !(r.send.error instanceof PgwakeError))
      .map((r) => describe(r.send.state === "rejected" && r.send.error)),
  );
}

export function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message.slice(0, 200)}`;
  return String(error);
}
