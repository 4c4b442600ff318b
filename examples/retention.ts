// Retention: finished jobs are deleted once they are older than their queue's retention
// (default 7 days), in small batches, by one process at a time.
import { connect } from "pgwake";

const client = await connect();
const temp = await client.createQueue("short-lived", { retention: "500ms" });
temp.work(async () => "done");

const sent = temp.send("x");
await sent.completed;
console.log(`finished: ${(await temp.get(await sent))?.state}`);
while (await temp.get(await sent)) await new Promise((resolve) => setTimeout(resolve, 50));
console.log("deleted after its retention");
await client.close();
