// Dependencies: a job runs only after every job in its `after` list completed. A diamond:
// fetch first, then resize and scan side by side, then publish once both are done.
import { connect } from "pgwake";

const client = await connect();
const steps = await client.createQueue<{ step: string }, string>("pipeline");
const log: string[] = [];
steps.work(
  async (job) => {
    log.push(job.payload.step);
    return `${job.payload.step} done`;
  },
  { concurrency: 4 },
);

const fetch = await steps.send({ step: "fetch" });
const resize = await steps.send({ step: "resize" }, { after: [fetch] });
const scan = await steps.send({ step: "scan" }, { after: [fetch] });
const publish = steps.send({ step: "publish" }, { after: [resize, scan] });

console.log(await publish.completed);
console.log(`order: ${log[0]} → ${[log[1], log[2]].sort().join(" + ")} → ${log[3]}`);
// If a dependency fails for good or is cancelled, the jobs waiting on it are cancelled too.
await client.close();
