// Backpressure: a queue of at most 3 unfinished jobs. Producers wait (woken when a job finishes,
// in any process) instead of flooding it; a send with a timeout gives up with QueueFullError.
import { connect, QueueFullError } from "pgwake";

const client = await connect();
const uploads = await client.createQueue<number>("uploads", { maxSize: 3 });

// Twelve producers at once; never more than 3 jobs queued or running.
const sends = Array.from({ length: 12 }, (_, i) => uploads.send(i));
let done = 0;
uploads.work(
  async () => {
    await new Promise((resolve) => setTimeout(resolve, 20)); // a slow consumer
    done++;
  },
  { concurrency: 1 },
);
await Promise.all(sends);
console.log("all 12 sends landed");

// Nobody consumes this one: the fourth send gives up.
const full = await client.createQueue("full", { maxSize: 3 });
await full.sendMany([{ payload: 1 }, { payload: 2 }, { payload: 3 }]);
await full.send(4, { timeout: "200ms" }).catch((error: unknown) => {
  if (error instanceof QueueFullError) console.log(`gave up: ${error.queue} is full`);
});

while (done < 12) await new Promise((resolve) => setTimeout(resolve, 10));
await client.close();
