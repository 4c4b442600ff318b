/**
 * pgwake's HTTP layer, for embedding it in your own process: the API, metrics and dashboard as a
 * Fetch-API handler, its `node:http` adapter, and both together.
 *
 * @example
 * ```ts
 * import { connect } from "pgwake";
 * import { startServer } from "pgwake/server";
 * const server = await startServer(await connect(), { port: 4545 });
 * ```
 */
export { createHandler, type Handler, type HandlerOptions, type MetricsSource } from "./handler.js";
export { serve, type RunningServer, type ServeOptions } from "./node.js";
export { startServer, type StartServerOptions } from "./start.js";
export { createMetrics, type Metrics, type MetricsOptions } from "./metrics.js";
