// Enqueue from SQL: <schema>.send(queue, payload, options) returns the job id, so triggers and
// other languages share the queue. Here a trigger on an application table enqueues a job for
// every new order, in the same transaction as the order itself.
import postgres from "postgres";
import { connect } from "pgwake";

const sql = postgres(process.env.DATABASE_URL!, { onnotice: () => undefined });
const client = await connect({ sql });
const schema = client.schema; // "pgwake" unless configured
const emails = await client.createQueue<{ order: number }, string>("order-emails");

await sql.unsafe(`
  create table if not exists shop_orders (id serial primary key, email text not null);
  create or replace function shop_orders_enqueue() returns trigger language plpgsql as $$
  begin
    perform "${schema}".send('order-emails', jsonb_build_object('order', new.id),
                             jsonb_build_object('key', 'order:' || new.id));
    return new;
  end $$;
  drop trigger if exists shop_orders_enqueue on shop_orders;
  create trigger shop_orders_enqueue after insert on shop_orders
    for each row execute function shop_orders_enqueue();`);

emails.work(async (job) => `emailed order ${job.payload.order}`);
const [order] = await sql`insert into shop_orders (email) values ('ada@example.com') returning id`;
const [job] = await sql.unsafe(
  `select id::text from "${schema}".jobs where queue = 'order-emails' and key = $1`,
  [`order:${order!.id}`],
);
console.log(await emails.completion(job!.id as string));

await sql.unsafe(`drop table shop_orders; drop function shop_orders_enqueue()`);
await client.close();
await sql.end();
