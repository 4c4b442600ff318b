// Where wake-up latency goes, for pgwake alone: an idle worker, N jobs sent INTERVAL ms apart from
// the same process; for each job, send → ready NOTIFY received → claimed → handler start, and
// when the send itself resolved (its insert committed): no wake-up can come before that.
//   DATABASE_URL=postgres://... N=500 INTERVAL=5 node --import tsx bench/latency-profile.ts
import { connect } from "../src/index.js";
import { Client } from "../src/client.js";

const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const N = Number(process.env.N ?? 500);
const INTERVAL = Number(process.env.INTERVAL ?? 5);
const schema = `latency_${Date.now()}`;
const client = await connect({ url, schema, pollInterval: false });
const runtime = Client.runtimeOf(client);
const q = await client.createQueue<number>("lat");
const sentAt = new Map<number, number>();
const sendResolvedMs: number[] = [];
const notices: number[] = [];
const claimedAt = new Map<string, number>();
const rows: Array<{ total: number; notify: number; claim: number; start: number }> = [];
runtime.listener.on("ready", () => notices.push(performance.now()));
// Each claim statement: when it started and how long it took.
const claimCalls: Array<{ at: number; ms: number; rows: number; limit: number }> = [];
const original = runtime.queries.claimJobs.bind(runtime.queries);
runtime.queries.claimJobs = async (...args: Parameters<typeof original>) => {
  const at = performance.now();
  const result = await original(...args);
  claimCalls.push({ at, ms: performance.now() - at, rows: result.rows.length, limit: args[2] });
  return result;
};
runtime.on("job:claimed", (info) => claimedAt.set(info.id, performance.now()));
let done = 0;
let finish!: () => void;
const all = new Promise<void>((resolve) => (finish = resolve));
q.work(
  async (job) => {
    const now = performance.now();
    const sent = sentAt.get(job.payload)!;
    const notice = notices.find((t) => t >= sent) ?? NaN;
    const claimed = claimedAt.get(job.id) ?? NaN;
    rows.push({
      total: now - sent,
      notify: notice - sent,
      claim: claimed - notice,
      start: now - claimed,
    });
    if (++done === N) finish();
  },
  { concurrency: 10 },
);
await new Promise((resolve) => setTimeout(resolve, 1000));
for (let i = 0; i < N; i++) {
  const sent = performance.now();
  sentAt.set(i, sent);
  void q.send(i).then(() => sendResolvedMs.push(performance.now() - sent));
  await new Promise((resolve) => setTimeout(resolve, INTERVAL));
}
await all;
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!.toFixed(2);
};
for (const key of ["total", "notify", "claim", "start"] as const) {
  const xs = rows.map((r) => r[key]).filter((x) => Number.isFinite(x));
  console.log(
    `${key.padEnd(7)} p50 ${pct(xs, 50)} p95 ${pct(xs, 95)} p99 ${pct(xs, 99)} max ${pct(xs, 100)} ms`,
  );
}
console.log(
  `send resolved p50 ${pct(sendResolvedMs, 50)} p95 ${pct(sendResolvedMs, 95)} p99 ${pct(sendResolvedMs, 99)} ms`,
);
const durations = claimCalls.map((c) => c.ms);
console.log(
  `claim statements: ${claimCalls.length}, p50 ${pct(durations, 50)} p99 ${pct(durations, 99)} max ${pct(durations, 100)} ms; limits: ${[...new Set(claimCalls.map((c) => c.limit))].join(",")}`,
);
const worst = [...rows].sort((a, b) => b.total - a.total).slice(0, 5);
console.log(
  "worst:",
  worst
    .map((r) =>
      Object.values(r)
        .map((x) => x.toFixed(1))
        .join("/"),
    )
    .join("  "),
);
await client.close();
const { default: postgres } = await import("postgres");
const sql = postgres(url, { max: 1, onnotice: () => undefined });
await sql.unsafe(`drop schema "${schema}" cascade`);
await sql.end();
