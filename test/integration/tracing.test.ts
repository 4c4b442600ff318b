/**
 * OpenTelemetry tracing through `@opentelemetry/api` alone: a small in-memory tracer provider, an
 * AsyncLocalStorage context manager and a W3C trace-context propagator stand in for the SDK
 * (`@opentelemetry/sdk-trace-base` and `@opentelemetry/core`), which pgwake does not need.
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { after, before, describe } from "node:test";
import {
  context,
  createTraceState,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type AttributeValue,
  type Context,
  type ContextManager,
  type Exception,
  type Link,
  type Span,
  type SpanContext,
  type SpanOptions,
  type SpanStatus,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  type Tracer,
  type TracerProvider,
} from "@opentelemetry/api";
import { dbTest, within, type DbContext } from "../helpers/db.js";

/** A span that records everything done to it. */
class RecordedSpan implements Span {
  readonly attributes: Attributes;
  readonly links: Link[];
  readonly events: Array<{ name: string; attributes?: Attributes }> = [];
  status: SpanStatus = { code: SpanStatusCode.UNSET };
  ended = false;
  private readonly context: SpanContext;

  constructor(
    readonly name: string,
    readonly kind: SpanKind,
    options: SpanOptions,
    readonly parent: SpanContext | undefined,
  ) {
    this.attributes = { ...options.attributes };
    this.links = [...(options.links ?? [])];
    this.context = {
      traceId: parent?.traceId ?? randomBytes(16).toString("hex"),
      spanId: randomBytes(8).toString("hex"),
      traceFlags: 1,
    };
  }

  spanContext(): SpanContext {
    return this.context;
  }
  setAttribute(key: string, value: AttributeValue): this {
    this.attributes[key] = value;
    return this;
  }
  setAttributes(attributes: Attributes): this {
    Object.assign(this.attributes, attributes);
    return this;
  }
  addEvent(name: string, attributes?: unknown): this {
    this.events.push({ name, attributes: attributes as Attributes });
    return this;
  }
  addLink(link: Link): this {
    this.links.push(link);
    return this;
  }
  addLinks(links: Link[]): this {
    this.links.push(...links);
    return this;
  }
  setStatus(status: SpanStatus): this {
    this.status = status;
    return this;
  }
  updateName(): this {
    return this;
  }
  end(): void {
    this.ended = true;
  }
  isRecording(): boolean {
    return !this.ended;
  }
  recordException(exception: Exception): void {
    const message = typeof exception === "string" ? exception : exception.message;
    this.events.push({ name: "exception", attributes: { "exception.message": message } });
  }
}

class MemoryTracer implements Tracer {
  constructor(private readonly spans: RecordedSpan[]) {}

  startSpan(name: string, options: SpanOptions = {}, ctx: Context = context.active()): Span {
    const parent = options.root ? undefined : trace.getSpanContext(ctx);
    const span = new RecordedSpan(
      name,
      options.kind ?? SpanKind.INTERNAL,
      options,
      parent && isSpanContextValid(parent) ? parent : undefined,
    );
    this.spans.push(span);
    return span;
  }

  startActiveSpan<F extends (span: Span) => unknown>(
    name: string,
    ...rest: [F] | [SpanOptions, F] | [SpanOptions, Context, F]
  ): ReturnType<F> {
    const fn = rest.at(-1) as F;
    const options = rest.length > 1 ? (rest[0] as SpanOptions) : {};
    const ctx = rest.length > 2 ? (rest[1] as Context) : context.active();
    const span = this.startSpan(name, options, ctx);
    return context.with(trace.setSpan(ctx, span), () => fn(span)) as ReturnType<F>;
  }
}

class MemoryTracerProvider implements TracerProvider {
  readonly spans: RecordedSpan[] = [];
  getTracer(): Tracer {
    return new MemoryTracer(this.spans);
  }
}

/** Context follows async calls, as the SDK's AsyncLocalStorageContextManager does it. */
class AlsContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.storage.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.storage.disable();
    return this;
  }
}

/** W3C trace context (`traceparent`, `tracestate`), the SDK's default propagator, in brief. */
class W3CTraceContextPropagator implements TextMapPropagator {
  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    const span = trace.getSpanContext(ctx);
    if (!span || !isSpanContextValid(span)) return;
    const flags = `0${(span.traceFlags & 1).toString(16)}`;
    setter.set(carrier, "traceparent", `00-${span.traceId}-${span.spanId}-${flags}`);
    const state = span.traceState?.serialize();
    if (state) setter.set(carrier, "tracestate", state);
  }
  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    const header = [getter.get(carrier, "traceparent")].flat()[0];
    const match = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(header ?? "");
    if (!match) return ctx;
    const state = [getter.get(carrier, "tracestate")].flat()[0];
    return trace.setSpanContext(ctx, {
      traceId: match[1]!,
      spanId: match[2]!,
      traceFlags: parseInt(match[3]!, 16),
      isRemote: true,
      ...(state ? { traceState: createTraceState(state) } : {}),
    });
  }
  fields(): string[] {
    return ["traceparent", "tracestate"];
  }
}

/** The trace context stored with a job, parsed. */
async function storedContext(
  admin: DbContext["admin"],
  schema: string,
  id: string,
): Promise<Record<string, string> | null> {
  const [row] = await admin.unsafe<Array<{ trace_context: string | null }>>(
    `select trace_context from "${schema}"._jobs where id = $1`,
    [id],
  );
  return row!.trace_context === null ? null : (JSON.parse(row!.trace_context) as never);
}

const provider = new MemoryTracerProvider();

// Runs first: nothing is registered yet, as in an application without OpenTelemetry set up.
dbTest(
  "without a tracer provider, nothing is traced and no trace context is stored",
  async ({ connect, admin, schema }) => {
    const client = await connect();
    const q = await client.createQueue<number, number>("off");
    q.work((job) => job.payload + 1);
    const sent = q.send(1);
    const batch = q.sendMany([{ payload: 2 }]);
    assert.equal(await within(sent.completed, 5000, "the job"), 2);
    assert.deepEqual(await within(batch.completed, 5000, "the batch"), [3]);
    assert.equal(await storedContext(admin, schema, await sent), null);
    assert.equal(await storedContext(admin, schema, (await batch)[0]!), null);
    assert.equal(provider.spans.length, 0);
  },
);

describe("with a tracer provider and a propagator registered", () => {
  before(() => {
    context.setGlobalContextManager(new AlsContextManager());
    trace.setGlobalTracerProvider(provider);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  });
  after(() => {
    trace.disable();
    propagation.disable();
    context.disable();
  });

  dbTest(
    "a worker's process span links to the send span, across a producer and a worker client",
    async ({ connect, admin, schema }) => {
      const producer = await connect();
      const worker = await connect();
      const q = await producer.createQueue<{ n: number }, number>("t", {
        backoff: { delay: 0 },
      });
      const active = new Map<string, Span | undefined>();
      let failedOnce = false;
      worker.queue<{ n: number }, number>("t").work((job) => {
        active.set(`${job.id}:${job.attempt}`, trace.getActiveSpan());
        if (job.payload.n === 2 && !failedOnce) {
          failedOnce = true;
          throw new Error("first attempt fails");
        }
        return job.payload.n * 10;
      });

      const tracer = trace.getTracer("test");
      const { sent, batch } = tracer.startActiveSpan("request", (request) => {
        const result = { sent: q.send({ n: 1 }), batch: q.sendMany([{ payload: { n: 2 } }]) };
        request.end();
        return result;
      });
      assert.equal(await within(sent.completed, 5000, "the sent job"), 10);
      assert.deepEqual(await within(batch.completed, 5000, "the batch (after a retry)"), [20]);
      const id = await sent;
      const [batchId] = await batch;

      const request = provider.spans.find((s) => s.name === "request")!;
      const sends = provider.spans.filter((s) => s.name === "send t");
      assert.equal(sends.length, 2);
      for (const span of sends) {
        assert.equal(span.kind, SpanKind.PRODUCER);
        assert.equal(span.parent?.spanId, request.spanContext().spanId, "a child of the caller");
        assert.equal(span.attributes["messaging.system"], "pgwake");
        assert.equal(span.attributes["messaging.destination.name"], "t");
        assert.ok(span.ended);
      }
      const [sendOne, sendMany] = sends as [RecordedSpan, RecordedSpan];
      assert.equal(sendOne.attributes["messaging.message.id"], id);
      assert.equal(sendMany.attributes["messaging.batch.message_count"], 1);

      // What travelled with the jobs: each send's own span context, in W3C form.
      const traceparent = (span: RecordedSpan): string =>
        `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;
      assert.deepEqual(await storedContext(admin, schema, id), {
        traceparent: traceparent(sendOne),
      });
      assert.deepEqual(await storedContext(admin, schema, batchId!), {
        traceparent: traceparent(sendMany),
      });

      const runs = provider.spans.filter((s) => s.name === "process t");
      assert.equal(runs.length, 3, "one span per attempt: job 1 once, job 2 twice");
      for (const run of runs) {
        const jobId = run.attributes["messaging.message.id"] as string;
        const sender = jobId === id ? sendOne : sendMany;
        assert.equal(run.kind, SpanKind.CONSUMER);
        assert.equal(run.parent, undefined, "a root span of its own");
        assert.equal(run.links.length, 1);
        assert.equal(run.links[0]!.context.traceId, sender.spanContext().traceId);
        assert.equal(run.links[0]!.context.spanId, sender.spanContext().spanId);
        assert.equal(run.attributes["messaging.system"], "pgwake");
        assert.equal(run.attributes["messaging.destination.name"], "t");
        assert.ok(run.ended);
        const attempt = run.attributes["pgwake.job.attempt"] as number;
        assert.equal(active.get(`${jobId}:${attempt}`), run, "the handler runs inside its span");
      }
      const attempts = runs
        .filter((run) => run.attributes["messaging.message.id"] === batchId)
        .sort(
          (a, b) =>
            (a.attributes["pgwake.job.attempt"] as number) -
            (b.attributes["pgwake.job.attempt"] as number),
        );
      assert.deepEqual(
        attempts.map((run) => [run.attributes["pgwake.job.attempt"], run.status.code]),
        [
          [1, SpanStatusCode.ERROR],
          [2, SpanStatusCode.UNSET],
        ],
      );
      assert.equal(attempts[0]!.status.message, "first attempt fails");
      assert.deepEqual(
        attempts[0]!.events.map((e) => e.name),
        ["exception"],
      );
    },
  );

  dbTest(
    "the general enqueue path (keys, dependencies, bounded queues) stores the trace context too",
    async ({ connect, admin, schema }) => {
      const client = await connect();
      const q = await client.createQueue<number>("general", { maxSize: 10 });
      const first = await q.send(1, { key: "k" });
      const [second] = await q.sendMany([{ payload: 2, options: { after: [first] } }]);
      const sends = provider.spans.filter((s) => s.name === "send general");
      assert.equal(sends.length, 2);
      for (const [id, span] of [
        [first, sends[0]!],
        [second!, sends[1]!],
      ] as const) {
        const { traceId, spanId } = span.spanContext();
        assert.deepEqual(await storedContext(admin, schema, id), {
          traceparent: `00-${traceId}-${spanId}-01`,
        });
      }
    },
  );

  dbTest(
    "SQL send() takes a traceContext option, and the worker's span links to it",
    async ({ connect, admin, schema }) => {
      const client = await connect();
      const q = await client.createQueue<number, number>("sql");
      const traceId = randomBytes(16).toString("hex");
      const spanId = randomBytes(8).toString("hex");
      const options = JSON.stringify({
        traceContext: { traceparent: `00-${traceId}-${spanId}-01`, tracestate: "vendor=abc" },
      });
      const [row] = await admin.unsafe<Array<{ id: string }>>(
        `select "${schema}".send('sql', '7', $1::text::jsonb)::text as id`,
        [options],
      );
      q.work((job) => job.payload * 2);
      assert.equal(await within(q.completion(row!.id), 5000, "the SQL-sent job"), 14);
      const run = provider.spans.find(
        (s) => s.name === "process sql" && s.attributes["messaging.message.id"] === row!.id,
      )!;
      assert.equal(run.links[0]!.context.traceId, traceId);
      assert.equal(run.links[0]!.context.spanId, spanId);
      assert.equal(run.links[0]!.context.traceState?.get("vendor"), "abc");

      await assert.rejects(
        admin.unsafe(`select "${schema}".send('sql', '1', '{"traceContext": "00-abc"}')`),
        (error: { code?: string; message: string }) =>
          error.code === "PW001" && /traceContext to be an object of strings/.test(error.message),
      );
    },
  );
});
