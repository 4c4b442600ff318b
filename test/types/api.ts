/**
 * Compile-time tests of the public types (checked by `npm run typecheck`, never run): generics
 * flow from a queue to its jobs, handlers and completion handles, and misuse does not compile.
 */
import {
  connect,
  JobFailedError,
  ValidationError,
  type PgwakeError,
  type Client,
  type Job,
  type JobInfo,
  type QueueStats,
  type SentBatch,
  type SentJob,
  type Worker,
} from "pgwake";

const expectType = <T>(value: T): T => value;

interface Email {
  to: string;
}
interface Receipt {
  messageId: string;
}

export async function typeTests(): Promise<void> {
  const client: Client = await connect({ url: "postgres://localhost/db", schema: "jobs" });
  const q = await client.createQueue<Email, Receipt>("emails", {
    maxAttempts: 3,
    leaseTime: "30s",
  });

  const sent = expectType<SentJob<Receipt>>(q.send({ to: "a@b.c" }, { delay: "5m", priority: 1 }));
  expectType<string>(await sent);
  expectType<Receipt>(await sent.completed);
  expectType<boolean>(await sent.cancel());
  void expectType<Promise<string>>(sent); // a SentJob is a Promise of the id

  const batch = expectType<SentBatch<Receipt>>(
    q.sendMany([{ payload: { to: "x" }, options: { priority: 2 } }]),
  );
  expectType<string[]>(await batch);
  expectType<Receipt[]>(await batch.completed);

  // @ts-expect-error the payload type is enforced
  q.send({ from: "nobody" });
  // @ts-expect-error unknown options do not compile (and are refused at run time)
  q.send({ to: "a" }, { prio: 1 });
  // @ts-expect-error tx, signal and timeout belong to the whole sendMany call
  q.sendMany([{ payload: { to: "x" }, options: { timeout: "1s" } }]);

  const worker = expectType<Worker<Email, Receipt>>(
    q.work(async (job) => {
      expectType<Email>(job.payload);
      expectType<number>(job.attempt);
      expectType<AbortSignal>(job.signal);
      return { messageId: job.id };
    }),
  );
  await worker.stop();
  q.work(async () => undefined); // a handler may return nothing
  // @ts-expect-error the result type is enforced
  q.work(async () => ({ messageId: 42 }));

  for await (const job of q.receive({ batch: 10, signal: AbortSignal.timeout(1000) })) {
    expectType<Job<Email, Receipt>>(job);
    await job.ack({ messageId: "m" });
    // @ts-expect-error ack takes the result type
    await job.ack({ wrong: true });
    await job.nack(new Error("later"), { delay: "10s" });
  }

  expectType<Receipt>(await q.completion("id"));
  expectType<QueueStats>(await q.stats());
  const info = expectType<JobInfo<Email, Receipt> | null>(await q.get("id"));
  if (info) expectType<"queued" | "running" | "completed" | "failed" | "cancelled">(info.state);
  expectType<number>(await q.cancel(["a", "b"]));
  expectType<boolean>(await q.retry("id"));

  client.on("error", (error) => expectType<PgwakeError>(error));
  const failure: unknown = undefined;
  if (failure instanceof JobFailedError) expectType<number>(failure.attempts);
  if (failure instanceof ValidationError) expectType<string>(failure.field);
  await client.close({ timeout: "5s" });
}
