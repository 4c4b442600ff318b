// The README's quickstart: one queue, a worker, and a producer that waits for the result.
// Run it with DATABASE_URL set: `npx tsx examples/quickstart.ts`.
import { connect } from "pgwake";

const client = await connect(); // DATABASE_URL

// A queue is created once (calling it again updates its options).
const emails = await client.createQueue<{ to: string }, { messageId: string }>("emails", {
  maxAttempts: 3,
});

// A worker: the handler's return value completes the job; a throw retries it with backoff.
emails.work(
  async (job) => {
    console.log(`sending to ${job.payload.to} (attempt ${job.attempt})`);
    return { messageId: `msg-${job.id.slice(-6)}` };
  },
  { concurrency: 5 },
);

// A producer, in this process or any other: send, then wait for the worker's result.
const sent = emails.send({ to: "ada@example.com" });
console.log(`enqueued job ${await sent}`);
const { messageId } = await sent.completed;
console.log(`delivered as ${messageId}`);

await client.close(); // stops the worker gracefully; the process then exits by itself
