// A worker service as it runs in a container: it works jobs, answers health checks, and on
// SIGTERM stops taking jobs, lets the running ones finish, and exits by itself.
//
//   DATABASE_URL=postgres://... PORT=8080 npx tsx examples/worker-service.ts
//   curl localhost:8080/healthz      → 200 {"ok":true,...}; 503 once it is shutting down
import { createServer } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { connect } from "pgwake";

interface Thumbnail {
  image: string;
  /** How long the (pretend) work takes. */
  ms: number;
}

const port = Number(process.env.PORT ?? 8080);
const client = await connect();
client.on("error", (error) => console.error(`pgwake: ${error.message}`)); // it recovers by itself
const thumbnails = await client.createQueue<Thumbnail, { thumbnail: string }>("thumbnails");

const worker = thumbnails.work(
  async (job) => {
    console.log(`working on ${job.payload.image} (job ${job.id}, attempt ${job.attempt})`);
    // job.signal aborts when the job is cancelled, its lease is lost, or the worker is stopping.
    // Short work like this simply finishes during a shutdown; long work can listen to the signal,
    // stop early and throw, and the job is retried by another replica.
    await sleep(job.payload.ms);
    if (job.signal.aborted && !stopping) throw job.signal.reason; // cancelled or lost meanwhile
    console.log(`done with ${job.payload.image}`);
    return { thumbnail: `${job.payload.image}.thumb.png` };
  },
  { concurrency: 4 },
);

let stopping = false;
// Liveness and readiness in one: the database answers and notifications flow. While shutting down
// it says 503 first, so the orchestrator stops sending traffic before the process goes.
const health = createServer((request, response) => {
  if (request.url !== "/healthz") return void response.writeHead(404).end();
  void (stopping ? Promise.resolve({ ok: false, stopping }) : client.health()).then((state) => {
    response
      .writeHead(state.ok ? 200 : 503, { "content-type": "application/json" })
      .end(JSON.stringify(state));
  });
});
health.listen(port, "127.0.0.1", () => {
  const { port: actual } = health.address() as { port: number };
  console.log(`health checks on http://127.0.0.1:${actual}/healthz`);
});

async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`${signal}: no new jobs; finishing the running ones`);
  await worker.stop({ timeout: "25s" }); // jobs still running then go back to the queue
  await client.close();
  health.close();
  console.log("stopped cleanly");
}
process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));
