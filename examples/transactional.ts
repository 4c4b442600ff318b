// Transactional enqueue: the job is part of your transaction. It is invisible (and no worker is
// woken) until the transaction commits, and gone if it rolls back.
import postgres from "postgres";
import { connect } from "pgwake";

const sql = postgres(process.env.DATABASE_URL!, { onnotice: () => undefined });
const client = await connect({ sql });
const invoices = await client.createQueue<{ order: number }>("invoices");
await sql`create table if not exists example_orders (id serial primary key, total numeric)`;

await sql.begin(async (tx) => {
  const [order] = await tx`insert into example_orders (total) values (99.5) returning id`;
  await invoices.send({ order: order!.id as number }, { tx });
  console.log(`inside the transaction the queue holds ${(await invoices.stats()).queued} jobs`);
});
console.log(`after commit it holds ${(await invoices.stats()).queued}`);

await sql
  .begin(async (tx) => {
    await invoices.send({ order: -1 }, { tx });
    throw new Error("payment declined");
  })
  .catch(() => undefined);
console.log(`after a rollback it still holds ${(await invoices.stats()).queued}`);

await sql`drop table example_orders`;
await client.close();
await sql.end();
