/**
 * Three ways to hand PostgreSQL a batch of plain jobs, timed side by side: the JSON document
 * pgwake sends today (`jsonb_to_recordset`, as `_enqueue` reads it), arrays (`unnest`), and
 * `COPY … FROM STDIN`. Each writes the same 1,000 jobs per call into its own copy of the jobs
 * table (`like _jobs including all`: the same columns, defaults and indexes, no triggers), so
 * only the way in differs; what `_enqueue` does around its insert is the same for all three and
 * is left out.
 *
 *   DATABASE_URL=postgres://… node --import tsx bench/bulk-transfer.ts
 *
 * Per method, ROUNDS rounds (after WARMUP) of CALLS calls of BATCH jobs, each call awaited before
 * the next (as the bench's bulk workload does); the table is truncated before every round. It
 * prints the median per round of: jobs/s, client CPU per call (encoding and the driver), and the
 * rest of a call's time (PostgreSQL and the wire). Every round checks the row count.
 *
 * Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), ROUNDS (5),
 * WARMUP (2), CALLS (20), BATCH (1000), PAYLOAD_BYTES (about 100: a small JSON object),
 * NO_DELAY=0 to leave Nagle's algorithm on, as postgres.js does.
 */
import { randomUUID } from "node:crypto";
import net from "node:net";
import { performance } from "node:perf_hooks";
import postgres from "postgres";

const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const WARMUP = Number(process.env.WARMUP ?? 2);
const CALLS = Number(process.env.CALLS ?? 20);
const BATCH = Number(process.env.BATCH ?? 1000);
const PAYLOAD_BYTES = Number(process.env.PAYLOAD_BYTES ?? 100);
const SCHEMA = "pgwake_bench_transfer";
const NO_DELAY = process.env.NO_DELAY !== "0";

/** A socket with TCP_NODELAY, as libpq opens them. */
function noDelaySocket(options: { host: string[]; port: number[] }): net.Socket {
  const socket = net.connect(options.port[0]!, options.host[0]!);
  socket.setNoDelay(true);
  return socket;
}

interface Job {
  id: string;
  queue: string;
  payload: unknown;
}

type Method = (sql: postgres.Sql, table: string, jobs: Job[]) => Promise<void>;

/** A PostgreSQL array literal element: quoted, with `"` and `\` escaped. */
function arrayElement(text: string): string {
  return `"${text.replace(/["\\]/g, "\\$&")}"`;
}

/**
 * A JSON text as a field of COPY's text format. JSON.stringify never emits a raw tab, newline or
 * carriage return (it escapes them inside strings), so only backslashes need doubling.
 */
function copyJson(json: string): string {
  return json.includes("\\") ? json.replaceAll("\\", "\\\\") : json;
}

/**
 * The whole batch as one JSON document, read back into rows by `type`'s `…_to_recordset`:
 * `jsonb` (what `_enqueue` does) parses it once; `json` scans it, then parses each payload.
 */
function recordset(type: "json" | "jsonb"): Method {
  return async (sql, table, jobs) => {
    await sql.unsafe(
      `insert into ${table} (id, queue, payload)
       select r.id, r.queue, r.payload
       from ${type}_to_recordset($1::text::${type}) as r(id uuid, queue text, payload jsonb)`,
      [JSON.stringify(jobs)],
    );
  };
}

const methods: Record<string, Method> = {
  json: recordset("jsonb"),
  json_plain: recordset("json"),
  async unnest(sql, table, jobs) {
    const ids = `{${jobs.map((job) => job.id).join(",")}}`;
    const queues = `{${jobs.map((job) => arrayElement(job.queue)).join(",")}}`;
    const payloads = `{${jobs.map((job) => arrayElement(JSON.stringify(job.payload))).join(",")}}`;
    await sql.unsafe(
      `insert into ${table} (id, queue, payload)
       select * from unnest($1::text::uuid[], $2::text::text[], $3::text::jsonb[])`,
      [ids, queues, payloads],
    );
  },
  async copy(sql, table, jobs) {
    let text = "";
    for (const job of jobs) {
      // Ids and queue names hold no character COPY would need escaped.
      text += `${job.id}\t${job.queue}\t${copyJson(JSON.stringify(job.payload))}\n`;
    }
    const stream = await sql.unsafe(`copy ${table} (id, queue, payload) from stdin`).writable();
    await new Promise<void>((resolve, reject) => {
      stream.on("error", reject);
      stream.on("finish", resolve);
      stream.end(text);
    });
  },
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function jobsFor(round: number, call: number): Job[] {
  const filler = "x".repeat(Math.max(0, PAYLOAD_BYTES - 60));
  return Array.from({ length: BATCH }, (_, i) => ({
    id: randomUUID(),
    queue: "bulk",
    payload: { round, call, i, note: filler, tags: ["a", "b"] },
  }));
}

async function main(): Promise<void> {
  const sql = postgres(DATABASE_URL, {
    max: 1,
    onnotice: () => undefined,
    fetch_types: false,
    // postgres.js leaves Nagle's algorithm on: COPY's data and its end go out as two small
    // writes, and the second waits for the server's delayed ACK (~40 ms a call).
    ...(NO_DELAY ? { socket: noDelaySocket } : {}),
  });
  const { connect } = await import("../src/index.js");
  // A migrated schema, for the jobs table to copy.
  const client = await connect({ url: DATABASE_URL, schema: SCHEMA });
  await client.close();
  const results: Array<{
    method: string;
    jobsPerSecond: number;
    clientMs: number;
    restMs: number;
  }> = [];
  try {
    for (const name of Object.keys(methods)) {
      const table = `${SCHEMA}.transfer_${name}`;
      await sql.unsafe(`drop table if exists ${table}`);
      await sql.unsafe(`create table ${table} (like ${SCHEMA}._jobs including all)`);
    }
    const perMethod = new Map<string, { rate: number[]; client: number[]; rest: number[] }>();
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      // Methods alternate within a round, in a rotating order.
      const names = Object.keys(methods);
      const order = names.map((_, i) => names[(i + round) % names.length]!);
      for (const name of order) {
        const table = `${SCHEMA}.transfer_${name}`;
        await sql.unsafe(`truncate ${table}`);
        const batches = Array.from({ length: CALLS }, (_, call) => jobsFor(round, call));
        let clientMicros = 0;
        const started = performance.now();
        for (const jobs of batches) {
          const cpu = process.cpuUsage();
          await methods[name]!(sql, table, jobs);
          const used = process.cpuUsage(cpu);
          clientMicros += used.user + used.system;
        }
        const elapsed = performance.now() - started;
        const [{ n }] = await sql.unsafe<[{ n: number }]>(
          `select count(*)::int as n from ${table}`,
        );
        if (n !== CALLS * BATCH) throw new Error(`${name}: ${n} rows, expected ${CALLS * BATCH}`);
        if (round < WARMUP) continue;
        const entry = perMethod.get(name) ?? { rate: [], client: [], rest: [] };
        entry.rate.push((CALLS * BATCH) / (elapsed / 1000));
        entry.client.push(clientMicros / 1000 / CALLS);
        entry.rest.push((elapsed - clientMicros / 1000) / CALLS);
        perMethod.set(name, entry);
      }
    }
    for (const [method, entry] of perMethod) {
      results.push({
        method,
        jobsPerSecond: Math.round(median(entry.rate)),
        clientMs: Number(median(entry.client).toFixed(2)),
        restMs: Number(median(entry.rest).toFixed(2)),
      });
    }
    console.log(`${CALLS} calls of ${BATCH} jobs, medians of ${ROUNDS} rounds (${WARMUP} warm-up)`);
    console.table(results);
  } finally {
    await sql.unsafe(`drop schema if exists ${SCHEMA} cascade`);
    await sql.end();
  }
}

await main();
