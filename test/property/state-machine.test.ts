/**
 * Model-based test of a job's life cycle: fast-check generates sequences of sends, claims (local
 * `receive()` loops and remote HTTP workers), acks, nacks, abandoned deliveries, cancels,
 * retries, lease expiries, due delayed jobs and reconnects, runs them against a real PostgreSQL,
 * and after every step compares the database and the public API with a small model of the state
 * machine. Completion handles are checked as soon as their job finishes.
 *
 * Deterministic by construction: one queue per case, commands run one after another, and the
 * two things that happen "by time" are forced instead of waited for. A lease expiry sets the
 * lease's end in the past in SQL; a delayed job is made due the same way. A second client then
 * starts a consumer, whose first deadline tick takes the expired lease back or promotes the job
 * (the same statement a consumer's timer runs at the due time). Leases are long (5 minutes) and
 * backoff an hour, so nothing else happens by time while a case runs.
 *
 * PGWAKE_FC_RUNS=200 runs more cases; a failure prints its seed and path (PGWAKE_FC_SEED,
 * PGWAKE_FC_PATH replay it).
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import fc from "fast-check";
import type postgres from "postgres";
import {
  JobCancelledError,
  JobFailedError,
  LeaseLostError,
  type Client,
  type Job,
  type Json,
  type Queue,
} from "../../src/index.js";
import { isConnectionError } from "../../src/errors.js";
import { apiFor, type Api } from "../helpers/api.js";
import { dbTest, until, within } from "../helpers/db.js";
import {
  capture,
  checkProperty,
  PROPERTY_TEST_TIMEOUT,
  fcParameters,
  jsonRoundTrip,
  reconnect,
  table,
  type Settled,
} from "./support.js";

/** Internal states: `scheduled` is a delayed job (the public API calls it `queued`). */
type State = "queued" | "scheduled" | "running" | "completed" | "failed" | "cancelled";
const UNFINISHED: readonly State[] = ["queued", "scheduled", "running"];
const MAX_ATTEMPTS = 2;

interface ModelJob {
  id: string;
  state: State;
  attempt: number;
  priority: number;
  key: string | null;
  payload: unknown;
  result: unknown;
  /** Claims so far: a holder's lease is current while its number matches. */
  lease: number;
}

type Holder =
  | { kind: "local"; id: string; lease: number; job: Job; loop: AsyncGenerator<Job> }
  | { kind: "remote"; id: string; lease: number; token: string };

interface Model {
  jobs: ModelJob[];
  holders: Holder[];
}

interface Real {
  client: Client;
  /** A second client whose short-lived consumers run the deadline tick on demand. */
  rescuer: Client;
  queue: Queue;
  api: Api;
  admin: postgres.Sql;
  schema: string;
  /** Completion handles not yet settled, by job id. */
  handles: Map<string, Array<Promise<Settled>>>;
}

type Command = fc.AsyncCommand<Model, Real>;

function jobOf(m: Model, id: string): ModelJob {
  const job = m.jobs.find((j) => j.id === id);
  assert.ok(job, `job ${id} is in the model`);
  return job;
}

function isLive(m: Model, holder: Holder): boolean {
  const job = jobOf(m, holder.id);
  return job.state === "running" && job.lease === holder.lease;
}

function watch(r: Real, id: string, completed: Promise<unknown>): void {
  const list = r.handles.get(id) ?? [];
  list.push(capture(completed));
  r.handles.set(id, list);
}

type Outcome =
  | { state: "completed"; result: unknown }
  | { state: "failed"; attempts: number }
  | { state: "cancelled" };

/** Every handle on a job that just finished settles, and with this outcome. */
async function expectOutcome(r: Real, id: string, expected: Outcome): Promise<void> {
  const handles = r.handles.get(id) ?? [];
  r.handles.delete(id);
  const settled = await within(Promise.all(handles), 10_000, `the handles of job ${id}`);
  for (const outcome of settled) {
    if (expected.state === "completed") {
      assert.ok(outcome.ok, `completed resolves for job ${id}`);
      assert.deepEqual(outcome.value, expected.result);
    } else {
      assert.ok(!outcome.ok, `completed rejects for job ${id} (${expected.state})`);
      if (expected.state === "failed") {
        assert.ok(outcome.error instanceof JobFailedError, String(outcome.error));
        assert.equal(outcome.error.attempts, expected.attempts);
      } else {
        assert.ok(outcome.error instanceof JobCancelledError, String(outcome.error));
      }
    }
  }
}

/** The database and the public API agree with the model: every job, nothing lost or doubled. */
async function compare(m: Model, r: Real): Promise<void> {
  const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : 1);
  const rows = await r.admin.unsafe(
    `select id::text, state::text, attempt, result::text from ${table(r.schema, "_jobs")}
     where queue = $1`,
    [r.queue.name],
  );
  assert.deepEqual(
    rows
      .map((row) => ({
        id: row.id as string,
        state: row.state as string,
        attempt: row.attempt as number,
        result: row.result === null ? null : (JSON.parse(row.result as string) as unknown),
      }))
      .sort(byId),
    m.jobs
      .map((j) => ({
        id: j.id,
        state: j.state,
        attempt: j.attempt,
        result: j.state === "completed" ? j.result : null,
      }))
      .sort(byId),
    "the jobs table matches the model",
  );
  const { jobs } = await r.client.jobs({ queue: r.queue.name, limit: 1000 });
  assert.deepEqual(
    jobs
      .map((j) => ({ id: j.id, state: j.state, attempt: j.attempt, payload: j.payload }))
      .sort(byId),
    m.jobs
      .map((j) => ({
        id: j.id,
        state: j.state === "scheduled" ? "queued" : j.state,
        attempt: j.attempt,
        payload: j.payload,
      }))
      .sort(byId),
    "client.jobs() matches the model",
  );
  const count = (...states: State[]) => m.jobs.filter((j) => states.includes(j.state)).length;
  assert.deepEqual(await r.queue.stats(), {
    queued: count("queued", "scheduled"),
    running: count("running"),
    completed: count("completed"),
    failed: count("failed"),
    cancelled: count("cancelled"),
  });
}

/**
 * Runs the deadline tick now: a consumer of the second client starts (its first tick promotes
 * due jobs and takes back expired leases), and stops once `done` holds.
 */
async function tick(r: Real, done: () => Promise<boolean>, what: string): Promise<void> {
  const stop = new AbortController();
  const loop = r.rescuer
    .queue(r.queue.name)
    .receive({ filter: { rescuer: "matches no job" }, signal: stop.signal });
  const ended = capture(loop.next());
  try {
    await until(done, 10_000, what);
  } finally {
    stop.abort();
  }
  const end = await within(ended, 10_000, "the rescuer's loop to end");
  assert.ok(end.ok && (end.value as IteratorResult<Job>).done, "the rescuer claimed nothing");
}

async function internalState(r: Real, id: string): Promise<string> {
  const [row] = await r.admin.unsafe(
    `select state::text from ${table(r.schema, "_jobs")} where id = $1`,
    [id],
  );
  return row!.state as string;
}

/** A nack (or a delivery let go) of a live holder: retried, or failed after the last attempt. */
async function attemptFailed(r: Real, job: ModelJob, retryNow: boolean): Promise<void> {
  if (job.attempt >= MAX_ATTEMPTS) {
    job.state = "failed";
    await expectOutcome(r, job.id, { state: "failed", attempts: job.attempt });
  } else {
    job.state = retryNow ? "queued" : "scheduled";
  }
}

function assertLeaseLost(outcome: Settled, what: string): void {
  assert.ok(!outcome.ok && outcome.error instanceof LeaseLostError, `${what}: LeaseLostError`);
}

// --- commands ------------------------------------------------------------------------------------

class Send implements Command {
  constructor(
    readonly payload: Json,
    readonly priority: number,
    readonly delayed: boolean,
    readonly key: string | null,
  ) {}
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    const holder =
      this.key === null
        ? undefined
        : m.jobs.find((j) => j.key === this.key && UNFINISHED.includes(j.state));
    const sent = r.queue.send(this.payload, {
      priority: this.priority,
      ...(this.delayed ? { delay: "1h" } : {}),
      ...(this.key === null ? {} : { key: this.key }),
    });
    const id = await within(Promise.resolve(sent), 10_000, "a send");
    watch(r, id, sent.completed);
    if (holder) {
      assert.equal(id, holder.id, "a key held by an unfinished job gives that job's id");
      return compare(m, r);
    }
    assert.ok(!m.jobs.some((j) => j.id === id), "a new job has a new id");
    m.jobs.push({
      id,
      state: this.delayed ? "scheduled" : "queued",
      attempt: 0,
      priority: this.priority,
      key: this.key,
      payload: jsonRoundTrip(this.payload),
      result: null,
      lease: 0,
    });
    const info = await r.client.job(id);
    assert.equal(info?.priority, this.priority);
    await compare(m, r);
  }
  toString() {
    const options = [`priority ${this.priority}`];
    if (this.delayed) options.push("delay 1h");
    if (this.key !== null) options.push(`key ${this.key}`);
    return `send(${JSON.stringify(this.payload)}, ${options.join(", ")})`;
  }
}

class Claim implements Command {
  constructor(readonly remote: boolean) {}
  check(m: Readonly<Model>) {
    return m.jobs.some((j) => j.state === "queued") && m.holders.length < 6;
  }
  async run(m: Model, r: Real): Promise<void> {
    const queued = m.jobs.filter((j) => j.state === "queued");
    const top = Math.max(...queued.map((j) => j.priority));
    // The documented order: priority, then run_at, then id.
    const [first] = await r.admin.unsafe(
      `select id::text from ${table(r.schema, "_jobs")} where queue = $1 and state = 'queued'
       order by priority desc, run_at, id limit 1`,
      [r.queue.name],
    );
    let claimed: { id: string; attempt: number; payload: unknown };
    let holder: Holder;
    if (this.remote) {
      const response = await r.api.call("POST", `/api/queues/${r.queue.name}/claim`, { batch: 1 });
      assert.equal(response.status, 200, response.text);
      claimed = response.body.jobs[0];
      assert.ok(claimed, "a remote claim gets the runnable job");
      holder = {
        kind: "remote",
        id: claimed.id,
        lease: 0,
        token: response.body.jobs[0].leaseToken,
      };
    } else {
      const loop = r.queue.receive();
      const next = await within(loop.next(), 10_000, "a local claim");
      assert.ok(!next.done, "a receive loop yields the runnable job");
      claimed = next.value;
      holder = { kind: "local", id: next.value.id, lease: 0, job: next.value, loop };
    }
    const job = jobOf(m, claimed.id);
    assert.equal(job.state, "queued", "only a runnable job is claimed");
    assert.equal(job.priority, top, "the highest priority first");
    assert.equal(claimed.id, first!.id, "then the earliest run_at, then the lowest id");
    job.state = "running";
    job.attempt++;
    job.lease++;
    holder.lease = job.lease;
    assert.equal(claimed.attempt, job.attempt);
    assert.deepEqual(claimed.payload, job.payload);
    m.holders.push(holder);
    await compare(m, r);
  }
  toString() {
    return this.remote ? "claim (remote)" : "claim (receive)";
  }
}

class Ack implements Command {
  constructor(
    readonly pick: number,
    readonly result: Json | undefined,
  ) {}
  check(m: Readonly<Model>) {
    return m.holders.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const [holder] = m.holders.splice(this.pick % m.holders.length, 1);
    const live = isLive(m, holder!);
    if (holder!.kind === "local") {
      const outcome = await capture(holder!.job.ack(this.result));
      await holder!.loop.return(undefined);
      if (live) assert.ok(outcome.ok, `the ack of a live lease works: ${String(outcome)}`);
      else assertLeaseLost(outcome, "an ack after the lease was lost");
    } else {
      const response = await r.api.call("POST", `/api/jobs/${holder!.id}/ack`, {
        token: holder!.token,
        ...(this.result === undefined ? {} : { result: this.result }),
      });
      assert.equal(response.status, live ? 200 : 409, response.text);
      if (!live) assert.equal(response.body.error.code, "LEASE_LOST");
    }
    if (live) {
      const job = jobOf(m, holder!.id);
      job.state = "completed";
      job.result = jsonRoundTrip(this.result);
      await expectOutcome(r, job.id, { state: "completed", result: job.result });
    }
    await compare(m, r);
  }
  toString() {
    return `ack(holder ${this.pick}, ${JSON.stringify(this.result)})`;
  }
}

class Nack implements Command {
  constructor(
    readonly pick: number,
    readonly retryNow: boolean,
  ) {}
  check(m: Readonly<Model>) {
    return m.holders.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const [holder] = m.holders.splice(this.pick % m.holders.length, 1);
    const live = isLive(m, holder!);
    if (holder!.kind === "local") {
      const error = new Error("nacked by the model test");
      const outcome = await capture(
        holder!.job.nack(error, this.retryNow ? { delay: 0 } : undefined),
      );
      await holder!.loop.return(undefined);
      if (live) assert.ok(outcome.ok, "the nack of a live lease works");
      else assertLeaseLost(outcome, "a nack after the lease was lost");
    } else {
      const response = await r.api.call("POST", `/api/jobs/${holder!.id}/nack`, {
        token: holder!.token,
        error: { message: "nacked remotely", code: "E_MODEL" },
        ...(this.retryNow ? { delay: 0 } : {}),
      });
      assert.equal(response.status, live ? 200 : 409, response.text);
    }
    if (live) await attemptFailed(r, jobOf(m, holder!.id), this.retryNow);
    await compare(m, r);
  }
  toString() {
    return `nack(holder ${this.pick}${this.retryNow ? ", delay 0" : ", backoff"})`;
  }
}

/** A receive loop ends while holding its job unsettled: the job goes back, the attempt counted. */
class LetGo implements Command {
  constructor(readonly pick: number) {}
  check(m: Readonly<Model>) {
    return m.holders.some((h) => h.kind === "local");
  }
  async run(m: Model, r: Real): Promise<void> {
    const locals = m.holders.filter((h) => h.kind === "local");
    const holder = locals[this.pick % locals.length]!;
    m.holders.splice(m.holders.indexOf(holder), 1);
    const live = isLive(m, holder);
    await holder.loop.return(undefined);
    if (live) await attemptFailed(r, jobOf(m, holder.id), true);
    await compare(m, r);
  }
  toString() {
    return `let go(local holder ${this.pick})`;
  }
}

class Cancel implements Command {
  constructor(
    readonly pick: number,
    readonly overHttp: boolean,
  ) {}
  check(m: Readonly<Model>) {
    return m.jobs.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const job = m.jobs[this.pick % m.jobs.length]!;
    const expected = UNFINISHED.includes(job.state);
    if (this.overHttp) {
      const response = await r.api.call("POST", `/api/jobs/${job.id}/cancel`);
      assert.equal(response.status, 200, response.text);
      assert.equal(response.body.cancelled, expected);
    } else {
      assert.equal(await r.queue.cancel(job.id), expected ? 1 : 0);
    }
    if (!expected) return compare(m, r);
    const wasRunning = job.state === "running";
    job.state = "cancelled";
    await expectOutcome(r, job.id, { state: "cancelled" });
    // The cancellation reaches the consumer holding it.
    for (const holder of m.holders) {
      if (holder.kind !== "local" || holder.id !== job.id || !wasRunning) continue;
      if (holder.lease !== job.lease) continue;
      const { signal } = holder.job;
      if (!signal.aborted) await within(once(signal, "abort"), 10_000, "job.signal to abort");
      assert.ok(signal.reason instanceof JobCancelledError, String(signal.reason));
    }
    await compare(m, r);
  }
  toString() {
    return `cancel(job ${this.pick}${this.overHttp ? ", over HTTP" : ""})`;
  }
}

class Retry implements Command {
  constructor(
    readonly pick: number,
    readonly overHttp: boolean,
  ) {}
  check(m: Readonly<Model>) {
    return m.jobs.length > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const job = m.jobs[this.pick % m.jobs.length]!;
    const keyHeld =
      job.key !== null &&
      m.jobs.some((j) => j !== job && j.key === job.key && UNFINISHED.includes(j.state));
    // A dedup key held by another unfinished job stays with that job: no retry.
    const expected = (job.state === "failed" || job.state === "cancelled") && !keyHeld;
    if (this.overHttp) {
      const response = await r.api.call("POST", `/api/jobs/${job.id}/retry`);
      assert.equal(response.status, 200, response.text);
      assert.equal(response.body.retried, expected);
    } else {
      assert.equal(await r.queue.retry(job.id), expected);
    }
    if (expected) {
      job.state = "queued";
      job.attempt = 0;
      job.result = null;
      watch(r, job.id, r.queue.completion(job.id));
    }
    await compare(m, r);
  }
  toString() {
    return `retry(job ${this.pick}${this.overHttp ? ", over HTTP" : ""})`;
  }
}

/** A remote worker went silent: its lease runs out, and a consumer's tick takes the job back. */
class Expire implements Command {
  constructor(readonly pick: number) {}
  check(m: Readonly<Model>) {
    return m.holders.some((h) => h.kind === "remote" && isLive(m, h));
  }
  async run(m: Model, r: Real): Promise<void> {
    const live = m.holders.filter((h) => h.kind === "remote" && isLive(m, h));
    const holder = live[this.pick % live.length]!;
    const job = jobOf(m, holder.id);
    const updated = await r.admin.unsafe(
      `update ${table(r.schema, "_jobs")} set lease_expires_at = now() - interval '1 second'
       where id = $1 and state = 'running' returning id`,
      [job.id],
    );
    assert.equal(updated.length, 1);
    await tick(r, async () => (await internalState(r, job.id)) !== "running", "the lease's rescue");
    // The holder stays: its late ack or nack must be fenced off.
    await attemptFailed(r, job, true);
    await compare(m, r);
  }
  toString() {
    return `expire(remote lease ${this.pick})`;
  }
}

/** A delayed job's time comes. */
class MakeDue implements Command {
  constructor(readonly pick: number) {}
  check(m: Readonly<Model>) {
    return m.jobs.some((j) => j.state === "scheduled");
  }
  async run(m: Model, r: Real): Promise<void> {
    const delayed = m.jobs.filter((j) => j.state === "scheduled");
    const job = delayed[this.pick % delayed.length]!;
    await r.admin.unsafe(
      `update ${table(r.schema, "_jobs")} set run_at = now() where id = $1 and state = 'scheduled'`,
      [job.id],
    );
    await tick(r, async () => (await internalState(r, job.id)) === "queued", "the job's promotion");
    job.state = "queued";
    await compare(m, r);
  }
  toString() {
    return `make due(delayed job ${this.pick})`;
  }
}

/** Every connection of the client is terminated; it reconnects, and nothing is lost. */
class Reconnect implements Command {
  check = () => true;
  async run(m: Model, r: Real): Promise<void> {
    await reconnect(r.admin, r.client);
    await compare(m, r);
  }
  toString() {
    return "reconnect";
  }
}

// --- the property ---------------------------------------------------------------------------------

/** Time spent per kind of command, for the summary line. */
const timings = new Map<string, { count: number; ms: number }>();

/** Times a command's runs under its class name. */
function timed(command: Command): Command {
  const kind = command.constructor.name;
  return {
    check: (m) => command.check(m),
    run: async (m, r) => {
      const start = performance.now();
      try {
        await within(command.run(m, r), 60_000, command.toString());
      } finally {
        const t = timings.get(kind) ?? { count: 0, ms: 0 };
        t.count++;
        t.ms += performance.now() - start;
        timings.set(kind, t);
      }
    },
    toString: () => command.toString(),
  };
}

const payload = fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>;
const pick = fc.nat({ max: 20 });
const commands = fc.commands(
  (
    [
      fc
        .tuple(
          payload,
          fc.integer({ min: -1, max: 1 }),
          fc.boolean(),
          fc.option(fc.constantFrom("a", "b")),
        )
        .map(([p, priority, delayed, key]) => new Send(p, priority, delayed, key)),
      fc.constant(new Send("plain", 0, false, null)),
      fc.boolean().map((remote) => new Claim(remote)),
      fc.boolean().map((remote) => new Claim(remote)),
      fc
        .tuple(pick, fc.option(payload, { nil: undefined }))
        .map(([p, result]) => new Ack(p, result)),
      fc.tuple(pick, fc.boolean()).map(([p, now]) => new Nack(p, now)),
      pick.map((p) => new LetGo(p)),
      fc.tuple(pick, fc.boolean()).map(([p, http]) => new Cancel(p, http)),
      fc.tuple(pick, fc.boolean()).map(([p, http]) => new Retry(p, http)),
      pick.map((p) => new Expire(p)),
      pick.map((p) => new MakeDue(p)),
      fc.constant(new Reconnect()),
    ] as Array<fc.Arbitrary<Command>>
  ).map((arbitrary) => arbitrary.map(timed)),
  { maxCommands: 30, size: "max" },
);

dbTest(
  "random sequences of sends, claims, acks, nacks, cancels, retries, expiries and reconnects follow the model",
  async ({ connect, admin, schema, defer }) => {
    const client = await connect({ name: `${schema}-model` });
    const rescuer = await connect({ name: `${schema}-rescuer` });
    const errors: unknown[] = [];
    client.on("error", (error) => errors.push(error));
    const api = apiFor(client, defer);
    let cases = 0;
    await checkProperty(
      fc.asyncProperty(commands, async (cmds) => {
        const queue = await client.createQueue(`model-${++cases}`, {
          maxAttempts: MAX_ATTEMPTS,
          leaseTime: "5m",
          backoff: { delay: "1h", factor: 1, max: "1h" },
        });
        const model: Model = { jobs: [], holders: [] };
        const real: Real = { client, rescuer, queue, api, admin, schema, handles: new Map() };
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
        } finally {
          for (const holder of model.holders) {
            if (holder.kind === "local") await holder.loop.return(undefined);
          }
        }
      }),
      fcParameters(15, 80),
    );
    const summary = [...timings]
      .sort((a, b) => b[1].ms - a[1].ms)
      .map(([kind, t]) => `${kind} ${t.count}× ${(t.ms / t.count).toFixed(1)}ms`);
    const steps = [...timings.values()].reduce((sum, t) => sum + t.count, 0);
    console.log(`# state machine: ${cases} cases, ${steps} commands run (${summary.join(", ")})`);
    // Connection errors while the client reconnects are reported as events, nothing else.
    for (const error of errors) {
      // With the cause's stack: a failure here is rare, and its origin is what matters.
      const cause = (error as { cause?: { stack?: string } }).cause;
      assert.ok(isConnectionError(error), `${String(error)}\ncaused by ${cause?.stack}`);
    }
  },
  { timeout: PROPERTY_TEST_TIMEOUT },
);
