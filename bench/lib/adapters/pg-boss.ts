/**
 * pg-boss.
 *   default  new PgBoss({ connectionString, schema }); createQueue(name);
 *            work(name, { localConcurrency: 10 }, handler): every other option at its default
 *            (batchSize 1, pollingIntervalSeconds 2: each of the 10 workers takes one job, then
 *            waits out the 2 s interval)
 *   fast     useListenNotify: true and createQueue(name, { notify: true }) (its LISTEN/NOTIFY
 *            wake-up); work(name, { batchSize: 10, burstWhenBatchFull: true,
 *            pollingIntervalSeconds: 0.5 }, handler) with one worker, so that at most 10 jobs
 *            run at once, as for the others; the handler runs a batch's jobs concurrently
 * Round trip: pg-boss has no completion API, so the producer polls findJobs(name, { id }) every
 * 5 ms until the job's state is `completed`.
 */
import { PgBoss } from "pg-boss";
import type { Adapter, AdapterOptions, Counts, Payload, Running } from "../types.ts";
import { dropSchema, harnessSql, ident, sleep } from "./sql.ts";

const QUEUE = "bench";
const POLL_MS = 5;

export function create(options: AdapterOptions): Adapter {
  const sql = harnessSql(options.url);
  const schema = ident(options.schema);
  const fast = options.setting === "fast";
  let boss: PgBoss | undefined;
  const b = (): PgBoss => boss ?? fail();
  return {
    async open(fresh) {
      if (fresh) await dropSchema(sql, options.schema);
      boss = new PgBoss({
        connectionString: options.url,
        schema: options.schema,
        ...(fast ? { useListenNotify: true } : {}),
      });
      boss.on("error", (error: Error) => console.error(`pg-boss error: ${error.message}`));
      await boss.start();
      if (fresh) await boss.createQueue(QUEUE, fast ? { notify: true } : {});
    },
    async sendOne(payload) {
      const id = await b().send(QUEUE, payload);
      if (!id) throw new Error("pg-boss send returned no id");
      return id;
    },
    async sendBulk(payloads) {
      const ids = await b().insert(
        QUEUE,
        payloads.map((data) => ({ data })),
        { returnId: true },
      );
      if (!ids || ids.length !== payloads.length) throw new Error("pg-boss insert returned no ids");
      return ids;
    },
    async work(handler): Promise<Running> {
      const id = fast
        ? await b().work<Payload>(
            QUEUE,
            { batchSize: 10, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 },
            async (jobs) => {
              await Promise.all(jobs.map(async (job) => handler(job.data)));
            },
          )
        : await b().work<Payload>(
            QUEUE,
            { localConcurrency: options.concurrency },
            async (jobs) => {
              for (const job of jobs) handler(job.data);
            },
          );
      return { stop: () => b().offWork(QUEUE, { id, wait: true }) };
    },
    async roundTrip(payload) {
      const id = await this.sendOne(payload);
      for (;;) {
        const [job] = await b().findJobs(QUEUE, { id });
        if (job?.state === "completed") return;
        if (job && job.state !== "created" && job.state !== "active" && job.state !== "retry")
          throw new Error(`job ${id} ended ${job.state}`);
        await sleep(POLL_MS);
      }
    },
    async counts(): Promise<Counts> {
      const [row] = await sql.unsafe<[{ unfinished: number; failed: number }]>(
        `select count(*) filter (where state in ('created', 'retry', 'active'))::int as unfinished,
                count(*) filter (where state in ('failed', 'cancelled'))::int as failed
         from ${schema}.job where name = '${QUEUE}'`,
      );
      return row;
    },
    async storedIndexes() {
      const rows = await sql.unsafe<Array<{ i: number }>>(
        `select (data->>'i')::int as i from ${schema}.job where name = '${QUEUE}'`,
      );
      return rows.map((row) => row.i);
    },
    async close() {
      await boss?.stop({ graceful: true, timeout: 30_000 });
      await sql.end({ timeout: 5 });
    },
  };
}

function fail(): never {
  throw new Error("open() first");
}
