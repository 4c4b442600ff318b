// A quick drain profile of pgwake alone: N pre-queued jobs, one worker (concurrency 10, BATCH),
// optional SLEEP ms per handler; prints jobs/s, client CPU per job and the statements sent by kind.
//   DATABASE_URL=postgres://... N=20000 SLEEP=0 node --import tsx bench/drain-profile.ts
import postgres from "postgres";
import { connect } from "../src/index.js";
const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const schema = "perf_" + Date.now();
const N = Number(process.env.N ?? 20000);
const batch = Number(process.env.BATCH ?? 1);
const counts = new Map<string, number>();
const sql = postgres(url, {
  max: 10,
  onnotice: () => {},
  debug: (_c, q) => {
    const k = (q.match(/name: (\w+)|^-- (.{0,40})/m)?.[0] ?? q.slice(0, 40)).replace(/\s+/g, " ");
    counts.set(k, (counts.get(k) ?? 0) + 1);
  },
});
const client = await connect({ sql: sql as never, schema, pollInterval: false });
const q = await client.createQueue<number>("drain");
for (let i = 0; i < N; i += 1000)
  await q.sendMany(Array.from({ length: 1000 }, (_, j) => ({ payload: i + j })));
counts.clear();
let done = 0;
let resolve!: () => void;
const all = new Promise<void>((r) => (resolve = r));
const t0 = performance.now();
const cpu0 = process.cpuUsage();
const sleepMs = Number(process.env.SLEEP ?? 0);
let maxRunning = 0;
q.work(
  async () => {
    if (sleepMs) await new Promise((r) => setTimeout(r, sleepMs));
    if (++done === N) resolve();
  },
  { concurrency: 10, batch },
);
const probe = setInterval(async () => {
  const s = await q.stats();
  maxRunning = Math.max(maxRunning, s.running);
}, 50);
await all;
clearInterval(probe);
console.log("max running (db):", maxRunning);
// wait until acks land
while ((await q.stats()).completed < N) await new Promise((r) => setTimeout(r, 5));
const ms = performance.now() - t0;
const cpu = process.cpuUsage(cpu0);
console.log(
  `batch ${batch}: ${N} jobs in ${ms.toFixed(0)} ms = ${((N / ms) * 1000).toFixed(0)} jobs/s, cpu/job ${((cpu.user + cpu.system) / N).toFixed(0)} µs`,
);
console.log([...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8));
await client.close();
await sql.unsafe(`drop schema "${schema}" cascade`);
await sql.end();
