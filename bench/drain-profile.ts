// A quick drain profile of pgwake alone: N pre-queued jobs, one worker (concurrency 10, BATCH),
// optional SLEEP ms per handler; prints when the handlers started (the drain's shape), jobs/s,
// client CPU per job, the CPU its PostgreSQL backends spent per job (read from /proc, so the
// server must run on this machine), the WAL written per job, the statements sent by kind, and the
// heap each finished job keeps after a vacuum.
//   DATABASE_URL=postgres://... N=20000 SLEEP=0 node --import tsx bench/drain-profile.ts
// PAYLOAD=500 gives every job a 500-byte string beside its number; FILLFACTOR=70 sets the jobs
// table's fillfactor before the jobs are sent.
import { processCpu } from "./lib/server-cpu.ts";
import postgres from "postgres";
import type { connect as Connect } from "../src/index.js";
// DIST=1 measures the built library (../dist, after `npm run build`) instead of the sources.
const { connect } = (await import(process.env.DIST ? "../dist/index.js" : "../src/index.js")) as {
  connect: typeof Connect;
};
const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const schema = "perf_" + Date.now();
const N = Number(process.env.N ?? 20000);
const batch = Number(process.env.BATCH ?? 1);
const counts = new Map<string, number>();
const sql = postgres(url, {
  max: 10,
  connection: { application_name: schema },
  onnotice: () => {},
  debug: (_c, q) => {
    const k = (q.match(/name: (\w+)|^-- (.{0,40})/m)?.[0] ?? q.slice(0, 40)).replace(/\s+/g, " ");
    counts.set(k, (counts.get(k) ?? 0) + 1);
  },
});
const client = await connect({ sql: sql as never, schema, pollInterval: false });
const q = await client.createQueue<unknown>("drain");
const pad = process.env.PAYLOAD ? "x".repeat(Number(process.env.PAYLOAD)) : undefined;
if (process.env.FILLFACTOR) {
  await sql.unsafe(
    `alter table "${schema}"._jobs set (fillfactor = ${Number(process.env.FILLFACTOR)})`,
  );
}
for (let i = 0; i < N; i += 1000)
  await q.sendMany(
    Array.from({ length: 1000 }, (_, j) => ({
      payload: pad === undefined ? i + j : { i: i + j, pad },
    })),
  );
counts.clear();
// CPU time (µs) of this run's server backends, by pid (bench/lib/server-cpu.ts reads /proc).
const backendCpu = async (): Promise<Map<number, number>> => {
  const rows =
    await sql`select pid from pg_stat_activity where application_name like ${schema + "%"} or application_name like ${"pgwake%"}`;
  const micros = new Map<number, number>();
  for (const { pid } of rows) {
    const cpu = processCpu(String(pid)); // undefined: not on this machine
    if (cpu) micros.set(pid as number, cpu.micros);
  }
  return micros;
};
const server0 = await backendCpu();
// WAL written over the drain, server-wide (nothing else should run): the insert position before
// and after. (pg_stat_wal's counters lag: backends report them lazily.) For records and full
// pages, run `pg_waldump --stats` over the printed range.
const walPosition = async (): Promise<string> =>
  ((await sql`select pg_current_wal_insert_lsn()::text as lsn`)[0] as { lsn: string }).lsn;
const wal0 = await walPosition();
// HEAPPROF=file: where the drain allocates (sampled, collected objects included), for GC work.
const inspector = process.env.HEAPPROF ? new (await import("node:inspector")).Session() : undefined;
const post = (method: string, params?: object): Promise<unknown> =>
  new Promise((resolve, reject) =>
    inspector!.post(method, params, (error, result) => (error ? reject(error) : resolve(result))),
  );
if (inspector) {
  inspector.connect();
  await post("HeapProfiler.startSampling", {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}
let done = 0;
let resolve!: () => void;
const all = new Promise<void>((r) => (resolve = r));
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const sleepMs = Number(process.env.SLEEP ?? 0);
let maxRunning = 0;
// When each handler started, from t0: the drain's shape (start-up, steady pace, tail).
const startedAt = new Float64Array(N);
q.work(
  async () => {
    startedAt[done] = performance.now() - t0;
    if (sleepMs) await new Promise((r) => setTimeout(r, sleepMs));
    if (++done === N) resolve();
  },
  { concurrency: 10, batch },
);
// PROBE=1: sample the running count (it costs server CPU that the figures above then include).
const probe = setInterval(async () => {
  if (!process.env.PROBE) return;
  const s = await q.stats();
  maxRunning = Math.max(maxRunning, s.running);
}, 50);
await all;
clearInterval(probe);
console.log("max running (db):", maxRunning);
const handlersMs = performance.now() - t0;
console.log(
  "handler starts (ms from work()): first " +
    startedAt[0]!.toFixed(1) +
    ", " +
    [0.1, 0.25, 0.5, 0.75, 0.9, 1]
      .map((f) => `${f * 100}% ${startedAt[Math.ceil(f * N) - 1]!.toFixed(0)}`)
      .join(", ") +
    `; all handlers done ${handlersMs.toFixed(0)}`,
);
// wait until acks land
while ((await q.stats()).completed < N) await new Promise((r) => setTimeout(r, 20));
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
const server1 = await backendCpu();
const wal1 = await walPosition();
if (inspector) {
  const { profile } = (await post("HeapProfiler.stopSampling")) as { profile: unknown };
  (await import("node:fs")).writeFileSync(process.env.HEAPPROF!, JSON.stringify(profile));
}
let serverUs = 0;
for (const [pid, us] of server1) serverUs += us - (server0.get(pid) ?? 0);
console.log(
  `batch ${batch}: ${N} jobs in ${ms.toFixed(0)} ms = ${((N / ms) * 1000).toFixed(0)} jobs/s, cpu/job ${((cpu.user + cpu.system) / N).toFixed(1)} µs, server cpu/job ${(serverUs / N).toFixed(1)} µs`,
);
const [{ walBytes }] =
  (await sql`select pg_wal_lsn_diff(${wal1}, ${wal0})::float8 as "walBytes"`) as [
    { walBytes: number },
  ];
console.log(`WAL per job: ${(walBytes / N).toFixed(0)} bytes (${wal0} → ${wal1}, for pg_waldump)`);
console.log([...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8));
// The heap the finished jobs keep once vacuum has taken the dead row versions away: what a
// retention period costs in table size (fillfactor leaves room on every page).
await sql.unsafe(`vacuum "${schema}"._jobs`);
const [{ heap }] = (await sql.unsafe(
  `select pg_relation_size('"${schema}"._jobs')::float8 as heap`,
)) as unknown as [{ heap: number }];
console.log(`heap per finished job after vacuum: ${(heap / N).toFixed(0)} bytes`);
await client.close();
await sql.unsafe(`drop schema "${schema}" cascade`);
await sql.end();
