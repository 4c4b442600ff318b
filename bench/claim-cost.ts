/**
 * What a claim and an ack cost the server per job, statement by statement on one connection:
 * N jobs are queued (sendMany, untimed) and vacuumed, then claimed CLAIM at a time through pgwake's
 * own claim statement until none is left, then acked ACK at a time through its ack statement. The
 * CPU is the backend's own (user + system, from /proc), so the server must run on this machine.
 * Nothing else runs meanwhile: no worker, no second connection, no handler.
 *
 *   DATABASE_URL=postgres://... node --import tsx bench/claim-cost.ts
 *
 * Environment: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test), N (60,000),
 * CLAIM (200 jobs a claim), ACK (1,000 acks a statement), ROUNDS (3, each on a fresh schema).
 * DIST=1 measures ../dist (after `npm run build`) instead of ../src. Only the SQL matters here:
 * compare two builds by their migrations and sql/queries.
 */
import postgres from "postgres";
import { processCpu } from "./lib/server-cpu.ts";
import type { connect as Connect } from "../src/index.js";
import type { Queries as QueriesClass, Db } from "../src/db/queries.js";

// DIST=1 measures the built library (../dist, after `npm run build`) instead of the sources.
const from = process.env.DIST ? "../dist/" : "../src/";
const { connect } = (await import(`${from}index.js`)) as { connect: typeof Connect };
const { Queries } = (await import(`${from}db/queries.js`)) as { Queries: typeof QueriesClass };

const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const N = Number(process.env.N ?? 60_000);
const CLAIM = Number(process.env.CLAIM ?? 200);
const ACK = Number(process.env.ACK ?? 1000);
const ROUNDS = Number(process.env.ROUNDS ?? 3);

async function round(): Promise<{ claim: number; ack: number }> {
  const schema = `pgwake_claim_cost_${Date.now()}`;
  const client = await connect({ url, schema, pollInterval: false });
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const q = await client.createQueue("cost");
    for (let i = 0; i < N; i += 1000) {
      const size = Math.min(1000, N - i);
      await q.sendMany(Array.from({ length: size }, (_, j) => ({ payload: i + j })));
    }
    await sql.unsafe(`vacuum analyze "${schema}"._jobs`);
    const queries = new Queries(schema, false);
    const db = sql as unknown as Db;
    const [{ pid }] = await sql<[{ pid: number }]>`select pg_backend_pid() as pid`;
    const cpu = (): number => {
      const read = processCpu(String(pid));
      if (!read)
        throw new Error("the server is not on this machine: its backend's CPU is unreadable");
      return read.micros;
    };

    let start = cpu();
    const leases = [];
    for (;;) {
      const { rows } = await queries.claimJobs(db, "cost", CLAIM, "claim-cost", null);
      if (rows.length === 0) break;
      leases.push(
        ...rows.map((row) => ({ id: row.id, token: row.leaseToken, resultText: "null" })),
      );
    }
    const claimMicros = cpu() - start;
    if (leases.length !== N) throw new Error(`claimed ${leases.length} of ${N} jobs`);

    start = cpu();
    for (let i = 0; i < leases.length; i += ACK) {
      const missed = await queries.completeJobs(db, leases.slice(i, i + ACK));
      if (missed.size > 0) throw new Error(`${missed.size} acks did not apply`);
    }
    const ackMicros = cpu() - start;
    return { claim: claimMicros / N, ack: ackMicros / N };
  } finally {
    await client.close();
    await sql.unsafe(`drop schema if exists "${schema}" cascade`);
    await sql.end();
  }
}

console.log(`${N} jobs, claims of ${CLAIM}, acks of ${ACK}: server CPU per job (µs)`);
for (let r = 1; r <= ROUNDS; r++) {
  const { claim, ack } = await round();
  console.log(`round ${r}: claim ${claim.toFixed(2)}, ack ${ack.toFixed(2)}`);
}
