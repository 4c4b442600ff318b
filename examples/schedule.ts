// Periodic schedules, stored in the database: each tick sends one job, however many processes
// run this. Here a job every second; in real life, e.g. cron: "0 3 * * *" with a timezone.
import { connect } from "pgwake";

const client = await connect();
const pings = await client.createQueue<{ ping: string }>("pings");
await client.schedule("every-second", { queue: "pings", every: "1s", payload: { ping: "pong" } });

let received = 0;
await new Promise<void>((resolve) => {
  pings.work(async (job) => {
    received++;
    console.log(`tick ${received}: ${job.payload.ping}`);
    if (received === 2) resolve();
  });
});

await client.unschedule("every-second");
await client.close();
