/**
 * graphile-worker.
 *   default  run({ connectionString, schema, concurrency: 10, taskList }) with every other option
 *            at its default (pollInterval 2000, prepared statements, no local queue, no batching)
 *   fast     its performance page's "with batching" preset, at our concurrency:
 *            preset.worker = { localQueue: { size: 500 }, completeJobBatchDelay: 0,
 *            failJobBatchDelay: 0 }, maxPoolSize 12 (its advice: concurrency + 2)
 * Sends go through makeWorkerUtils (addJob, addJobs). Round trip: it has no completion API (a
 * completed job is deleted), so the producer polls for the job's row every 5 ms until it is gone.
 */
import pg from "pg";
import { Logger, makeWorkerUtils, run, type Runner, type WorkerUtils } from "graphile-worker";
import type { Adapter, AdapterOptions, Counts, Payload, Running } from "../types.ts";
import { dropSchema, harnessSql, ident, sleep } from "./sql.ts";

const quiet = new Logger(() => () => undefined);
const POLL_MS = 5;

export function create(options: AdapterOptions): Adapter {
  const sql = harnessSql(options.url);
  const schema = ident(options.schema);
  const fast = options.setting === "fast";
  let utils: WorkerUtils | undefined;
  let pool: pg.Pool | undefined;
  const u = (): WorkerUtils => utils ?? fail();
  return {
    async open(fresh) {
      if (fresh) await dropSchema(sql, options.schema);
      utils = await makeWorkerUtils({
        connectionString: options.url,
        schema: options.schema,
        logger: quiet,
      });
      await utils.migrate();
      // The runner's pool, made now so that connecting is not part of a timed section.
      pool = new pg.Pool({ connectionString: options.url, max: fast ? 12 : 10 });
      pool.on("error", (error) => console.error(`graphile-worker pool error: ${error.message}`));
      pool.on("connect", (client) =>
        client.on("error", (error) =>
          console.error(`graphile-worker client error: ${error.message}`),
        ),
      );
      (await pool.connect()).release();
    },
    async sendOne(payload) {
      return (await u().addJob("bench", payload)).id;
    },
    async sendBulk(payloads) {
      const jobs = await u().addJobs(payloads.map((payload) => ({ identifier: "bench", payload })));
      return jobs.map((job) => job.id);
    },
    async work(handler): Promise<Running> {
      const runner: Runner = await run({
        pgPool: pool ?? fail(),
        schema: options.schema,
        concurrency: options.concurrency,
        logger: quiet,
        noHandleSignals: true,
        taskList: {
          bench: async (payload) => {
            handler(payload as Payload);
          },
        },
        ...(fast
          ? {
              preset: {
                worker: {
                  localQueue: { size: 500 },
                  completeJobBatchDelay: 0,
                  failJobBatchDelay: 0,
                },
              },
            }
          : {}),
      });
      return { stop: () => runner.stop() };
    },
    async roundTrip(payload) {
      const id = (await u().addJob("bench", payload)).id;
      for (;;) {
        const rows = await sql.unsafe(
          `select attempts, last_error from ${schema}._private_jobs where id = $1`,
          [id],
        );
        if (rows.length === 0) return;
        if (rows[0]!.last_error) throw new Error(`job ${id} failed: ${rows[0]!.last_error}`);
        await sleep(POLL_MS);
      }
    },
    async counts(): Promise<Counts> {
      const [row] = await sql.unsafe<[{ unfinished: number; failed: number }]>(
        `select count(*) filter (where attempts < max_attempts)::int as unfinished,
                count(*) filter (where last_error is not null)::int as failed
         from ${schema}._private_jobs`,
      );
      return row;
    },
    async storedIndexes() {
      const rows = await sql.unsafe<Array<{ i: number }>>(
        `select (payload->>'i')::int as i from ${schema}._private_jobs`,
      );
      return rows.map((row) => row.i);
    },
    async close() {
      await utils?.release();
      await pool?.end();
      await sql.end({ timeout: 5 });
    },
  };
}

function fail(): never {
  throw new Error("open() first");
}
