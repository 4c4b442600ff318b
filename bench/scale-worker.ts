// One worker process of bench/scale.ts: works queue "scale" with concurrency 10 and reports
// every job it finishes (by payload index) to the parent, in batches, from `go` until `stop`.
import { connect } from "../src/index.js";

const [url, schema] = process.argv.slice(2) as [string, string];
const client = await connect({ url, schema, migrate: false });
client.on("error", (error) => console.error(`scale worker: ${error.message}`));
let done: number[] = [];
const flush = (): void => {
  if (done.length > 0) process.send!({ type: "done", indexes: done });
  done = [];
};
const timer = setInterval(flush, 20);
let worker: { stop(options?: { timeout?: string | number }): Promise<void> } | undefined;
process.send!({ type: "ready" });
process.on("message", (message: { type: string }) => {
  if (message.type === "go") {
    worker = client.queue<{ i: number }>("scale").work(
      (job) => {
        done.push(job.payload.i);
        if (done.length >= 500) flush();
      },
      { concurrency: 10 },
    );
  }
  if (message.type !== "stop") return;
  void worker!
    .stop({ timeout: "30s" })
    .then(() => client.close())
    .then(() => {
      clearInterval(timer);
      flush();
      process.send!({ type: "stopped" }, () => process.exit(0));
    });
});
