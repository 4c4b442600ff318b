// The classic "echo a text N times" app, rebuilt on pgwake.
//
//   POST /producer {"text": "hello", "time": 3}   → 202 {"id": "..."}
//
// Workers in the same process print the text `time` times, one line a second. Run several copies
// of the app against one database: they share the queue. Kill one mid-job and the job comes back
// to another copy after its lease (10 s here), so nothing is lost.
//
//   DATABASE_URL=postgres://... PORT=3000 npx tsx examples/echo.ts
import { createServer, type IncomingMessage } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, ValidationError } from "pgwake";

interface Echo {
  text: string;
  time: number;
}

const port = Number(process.env.PORT ?? 3000);
const intervalMs = Number(process.env.ECHO_INTERVAL_MS ?? 1000);
const name = `echo:${process.pid}`;

const client = await connect({ name });
client.on("error", (error) => console.error(`[${name}] pgwake: ${error.message}`));
const echoes = await client.createQueue<Echo, { echoed: number }>("echo", {
  leaseTime: process.env.ECHO_LEASE ?? "10s",
});

echoes.work(
  async (job) => {
    const { text, time } = job.payload;
    for (let i = 1; i <= time; i++) {
      console.log(`[${name}] ${text} (${i}/${time}) job ${job.id} attempt ${job.attempt}`);
      if (i < time) await sleep(intervalMs, undefined, { signal: job.signal });
    }
    return { echoed: time };
  },
  { concurrency: 4 },
);

async function readJson(request: IncomingMessage): Promise<unknown> {
  let body = "";
  for await (const chunk of request) body += chunk;
  return JSON.parse(body);
}

function parseEcho(body: unknown): Echo {
  const { text, time } = (body ?? {}) as Partial<Echo>;
  if (typeof text !== "string" || !Number.isInteger(time) || (time as number) < 1) {
    throw new ValidationError("body", 'expected {"text": string, "time": integer of 1 or more}');
  }
  return { text, time: time as number };
}

const server = createServer((request, response) => {
  const reply = (status: number, body: object): void => {
    response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
  };
  if (request.method !== "POST" || request.url !== "/producer")
    return reply(404, { error: "not found" });
  readJson(request)
    .then((body) => echoes.send(parseEcho(body)))
    .then((id) => reply(202, { id }))
    .catch((error: Error) =>
      reply(error instanceof ValidationError || error instanceof SyntaxError ? 400 : 500, {
        error: error.message,
      }),
    );
});

server.listen(port, "127.0.0.1", () => {
  const address = server.address();
  console.log(
    `[${name}] listening on http://127.0.0.1:${typeof address === "object" && address ? address.port : port}`,
  );
});

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    server.close();
    void client.close().then(() => console.log(`[${name}] stopped`));
  });
}
