import assert from "node:assert/strict";
import { dbTest, within } from "../helpers/db.js";

dbTest("a job goes from send to completed", async ({ connect }) => {
  const client = await connect();
  const q = await client.createQueue("smoke");
  const worker = q.work(async (job) => ({ doubled: (job.payload as number) * 2 }));
  const sent = q.send(21);
  const id = await sent;
  assert.match(id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(await within(sent.completed, 5000, "completion"), { doubled: 42 });
  await worker.stop();
  const info = await q.get(id);
  assert.equal(info?.state, "completed");
});
