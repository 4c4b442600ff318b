/**
 * pgwake, as built in ../dist (the `pgwake` dependency is `file:..`), or BENCH_PGWAKE's.
 *   default  connect({ url, schema }) with every default; work(handler, { concurrency })
 *   fast     the same, and work(handler, { concurrency, batch: 10 })
 * Round trip: `await queue.send(payload).completed`.
 */
import { pathToFileURL } from "node:url";
import { resolve } from "node:path";
import type { Client, Queue, connect as Connect } from "pgwake";
import type { Adapter, AdapterOptions, Counts, Payload, Running } from "../types.ts";
import { dropSchema, harnessSql, ident } from "./sql.ts";

/**
 * The pgwake to measure: the `pgwake` dependency (../dist), or the built package in the directory
 * BENCH_PGWAKE names (say, an export of another commit with its own dist/).
 */
async function load(): Promise<typeof Connect> {
  const dir = process.env.BENCH_PGWAKE;
  const module = (await import(
    dir ? pathToFileURL(resolve(dir, "dist", "index.js")).href : "pgwake"
  )) as { connect: typeof Connect };
  return module.connect;
}

export function create(options: AdapterOptions): Adapter {
  const sql = harnessSql(options.url);
  const schema = ident(options.schema);
  let client: Client | undefined;
  let queue: Queue<Payload, null> | undefined;
  const q = (): Queue<Payload, null> => queue ?? fail();
  return {
    async open(fresh) {
      if (fresh) await dropSchema(sql, options.schema);
      const connect = await load();
      client = await connect({ url: options.url, schema: options.schema });
      client.on("error", (error) => console.error(`pgwake client error: ${error.message}`));
      queue = await client.createQueue<Payload, null>("bench");
    },
    sendOne: (payload) => Promise.resolve(q().send(payload)),
    sendBulk: (payloads) => Promise.resolve(q().sendMany(payloads.map((payload) => ({ payload })))),
    async work(handler): Promise<Running> {
      const worker = q().work(
        async (job) => {
          handler(job.payload);
          return null;
        },
        options.setting === "fast"
          ? { concurrency: options.concurrency, batch: 10 }
          : { concurrency: options.concurrency },
      );
      return { stop: () => worker.stop({ timeout: "30s" }) };
    },
    async roundTrip(payload) {
      await q().send(payload).completed;
    },
    async counts(): Promise<Counts> {
      const [row] = await sql.unsafe<[{ unfinished: number; failed: number }]>(
        `select count(*) filter (where state in ('queued', 'running'))::int as unfinished,
                count(*) filter (where state in ('failed', 'cancelled'))::int as failed
         from ${schema}.jobs where queue = 'bench'`,
      );
      return row;
    },
    async storedIndexes() {
      const rows = await sql.unsafe<Array<{ i: number }>>(
        `select (payload->>'i')::int as i from ${schema}.jobs where queue = 'bench'`,
      );
      return rows.map((row) => row.i);
    },
    async close() {
      await client?.close({ timeout: "30s" });
      await sql.end({ timeout: 5 });
    },
  };
}

function fail(): never {
  throw new Error("open() first");
}
