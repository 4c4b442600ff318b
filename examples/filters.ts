// Attributes and filters: jobs carry a flat object of attributes; consumers (and cancel) select
// jobs whose attributes contain a filter.
import { connect } from "pgwake";

const client = await connect();
const reports = await client.createQueue<string>("reports");
await reports.sendMany([
  { payload: "eu-daily", options: { attributes: { region: "eu", kind: "daily" } } },
  { payload: "us-daily", options: { attributes: { region: "us", kind: "daily" } } },
  { payload: "eu-weekly", options: { attributes: { region: "eu", kind: "weekly" } } },
]);

// A consumer for Europe only.
for await (const job of reports.receive({ filter: { region: "eu" }, batch: 10 })) {
  console.log(`eu worker got ${job.payload}`);
  await job.ack();
  if (job.payload === "eu-weekly") break;
}

// Cancel by attributes.
console.log(`cancelled ${await reports.cancel({ filter: { region: "us" } })} us job`);
await client.close();
