/**
 * Optional OpenTelemetry tracing, through `@opentelemetry/api` (an optional peer dependency).
 *
 * - `send` and `sendMany` make a PRODUCER span `send <queue>` per call, a child of the caller's
 *   active span, and store what the global propagator injects for it (W3C: `traceparent`, and
 *   `tracestate` when there is one) with each job, in `_jobs.trace_context` (migration 0004).
 * - A worker runs each job's handler inside a CONSUMER span `process <queue>`: a root span (the
 *   worker's own context says nothing about the job) with a link to the producer's span, so a
 *   trace viewer goes from the send to every attempt that ran it, across processes. It ends
 *   when the handler returns or throws (status ERROR, with the exception recorded).
 *
 * The package is loaded once, with a dynamic `import()`, when a client connects; if it is not
 * installed, tracing is off and nothing else happens. Until a tracer provider is registered
 * (`trace.setGlobalTracerProvider`, which the OpenTelemetry SDK does), each send and each job
 * costs one check of the global provider and nothing more: no span, no context, no bytes stored.
 * A propagator must be registered too (the SDK registers W3C trace context by default), or
 * spans are made but no trace context travels with the jobs.
 */
import type * as Otel from "@opentelemetry/api";
import { packageVersion } from "./util/version.js";

type Api = typeof Otel;

/** The instrumentation scope of pgwake's spans. */
const TRACER_NAME = "pgwake";

/** The loaded module; null when it is not installed; undefined until the import settles. */
let api: Api | null | undefined;
let loading: Promise<void> | undefined;
let tracerVersion: string | undefined;
/** The API's no-op provider: what the global proxy delegates to until a provider is registered. */
let noopProvider: Otel.TracerProvider | undefined;

/**
 * Loads `@opentelemetry/api`, once per process (later calls return the same promise). A missing
 * package is not an error: tracing is then off. `connect` awaits it.
 *
 * @example
 * ```ts
 * await loadTracing();
 * ```
 */
export function loadTracing(): Promise<void> {
  loading ??= import("@opentelemetry/api").then(
    (module: Api) => {
      tracerVersion = packageVersion();
      // The proxy's delegate before any registration is the API's shared no-op provider.
      noopProvider =
        typeof module.ProxyTracerProvider === "function"
          ? new module.ProxyTracerProvider().getDelegate()
          : undefined;
      api = module;
    },
    () => {
      api = null;
    },
  );
  return loading;
}

/**
 * The tracer, or undefined when tracing is off: the package is missing, or no tracer provider
 * is registered. This is the check every send and job pays for when tracing is off.
 */
function activeTracer(): Otel.Tracer | undefined {
  if (!api) return undefined;
  const provider = api.trace.getTracerProvider();
  if (
    noopProvider !== undefined &&
    provider instanceof api.ProxyTracerProvider &&
    provider.getDelegate() === noopProvider
  ) {
    return undefined;
  }
  // A provider of another copy of the API (not our ProxyTracerProvider) counts as on.
  return provider.getTracer(TRACER_NAME, tracerVersion);
}

/** A span pgwake started; ends once. */
export interface OpenSpan {
  /** Ends the span with status unset (OK). */
  end(): void;
  /** Ends the span with status ERROR, recording `error` as an exception event. */
  fail(error: unknown): void;
}

function openSpan(span: Otel.Span): OpenSpan {
  return {
    end: () => span.end(),
    fail: (error) => {
      const message = error instanceof Error ? error.message : String(error);
      span.recordException(error instanceof Error ? error : message);
      span.setStatus({ code: api!.SpanStatusCode.ERROR, message });
      span.end();
    },
  };
}

/** A send's span (ended once the jobs are written, or failed), and the context to store. */
export interface SendSpan extends OpenSpan {
  /**
   * What the propagator injected, as JSON text (`{"traceparent":"00-…"}`); undefined when it
   * injected nothing (no propagator registered).
   */
  readonly traceContext: string | undefined;
}

/**
 * Starts the PRODUCER span of one `send` (one id) or `sendMany` (`batch`) call; undefined when
 * tracing is off, in which case nothing at all was done.
 *
 * @example
 * ```ts
 * const span = startSend("emails", [id], false);
 * try { await write(span?.traceContext); span?.end(); } catch (e) { span?.fail(e); throw e; }
 * ```
 */
export function startSend(
  queue: string,
  ids: readonly string[],
  batch: boolean,
): SendSpan | undefined {
  const tracer = activeTracer();
  if (!tracer) return undefined;
  const otel = api!;
  const parent = otel.context.active();
  const attributes: Otel.Attributes = {
    "messaging.system": "pgwake",
    "messaging.destination.name": queue,
    "messaging.operation.type": "send",
    "messaging.operation.name": "send",
  };
  if (batch) attributes["messaging.batch.message_count"] = ids.length;
  else attributes["messaging.message.id"] = ids[0]!;
  const span = tracer.startSpan(
    `send ${queue}`,
    { kind: otel.SpanKind.PRODUCER, attributes },
    parent,
  );
  const carrier: Record<string, string> = {};
  otel.propagation.inject(otel.trace.setSpan(parent, span), carrier);
  return {
    ...openSpan(span),
    // Text, not an object: the database stores it as it comes, with no JSON to render back.
    traceContext: Object.keys(carrier).length > 0 ? JSON.stringify(carrier) : undefined,
  };
}

/** The span of one job run: the handler runs inside it. */
export interface ProcessSpan extends OpenSpan {
  /** Calls `fn` with this span active, so the handler's own spans are its children. */
  run<T>(fn: () => T): T;
}

/**
 * Starts the CONSUMER span of one job run, linked to the span of the send that made the job;
 * undefined when tracing is off.
 *
 * @example
 * ```ts
 * const span = startProcess(job);
 * try { await (span ? span.run(() => handler(job)) : handler(job)); span?.end(); }
 * catch (error) { span?.fail(error); }
 * ```
 */
export function startProcess(job: {
  readonly queue: string;
  readonly id: string;
  readonly attempt: number;
  /** The producer's trace context as stored with the job (JSON text), if any. */
  readonly traceContext: string | null;
}): ProcessSpan | undefined {
  const stored = job.traceContext ?? undefined;
  const tracer = activeTracer();
  if (!tracer) return undefined;
  const otel = api!;
  const producer = stored === undefined ? undefined : producerSpanContext(otel, stored);
  const span = tracer.startSpan(
    `process ${job.queue}`,
    {
      kind: otel.SpanKind.CONSUMER,
      links: producer ? [{ context: producer }] : [],
      attributes: {
        "messaging.system": "pgwake",
        "messaging.destination.name": job.queue,
        "messaging.operation.type": "process",
        "messaging.operation.name": "process",
        "messaging.message.id": job.id,
        "pgwake.job.attempt": job.attempt,
      },
    },
    otel.ROOT_CONTEXT,
  );
  const active = otel.trace.setSpan(otel.ROOT_CONTEXT, span);
  return { ...openSpan(span), run: (fn) => otel.context.with(active, fn) };
}

/** The producer's span context from a stored trace context; undefined if it holds none. */
function producerSpanContext(otel: Api, stored: string): Otel.SpanContext | undefined {
  let carrier: unknown;
  try {
    carrier = JSON.parse(stored);
  } catch {
    return undefined; // written by hand through SQL, perhaps: no link rather than no job
  }
  if (typeof carrier !== "object" || carrier === null) return undefined;
  const extracted = otel.propagation.extract(otel.ROOT_CONTEXT, carrier);
  const spanContext = otel.trace.getSpanContext(extracted);
  return spanContext && otel.trace.isSpanContextValid(spanContext) ? spanContext : undefined;
}
