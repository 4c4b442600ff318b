// Dedup keys: at most one unfinished job per queue and key. Sending the same key again returns
// the job that holds it; once that job finished, the key is free again.
import { connect } from "pgwake";

const client = await connect();
const welcome = await client.createQueue<{ user: number }, string>("welcome-emails");

const first = await welcome.send({ user: 42 }, { key: "welcome:42" });
const second = await welcome.send({ user: 42 }, { key: "welcome:42" });
console.log(first === second ? "one job for welcome:42" : "two jobs (unexpected)");

welcome.work(async (job) => `welcomed user ${job.payload.user}`);
console.log(await welcome.completion(first));

const later = await welcome.send({ user: 42 }, { key: "welcome:42" });
console.log(later === first ? "same job (unexpected)" : "a new job once the first finished");
await welcome.completion(later);
await client.close();
