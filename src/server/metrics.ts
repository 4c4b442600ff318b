import type { Client } from "../client.js";
import type { MetricsSource } from "./handler.js";

/** Prometheus metrics of one client (placeholder: filled in by the metrics work). */
export interface Metrics extends MetricsSource {
  /** Stops listening to the client's events. */
  close(): void;
}

export function createMetrics(_client: Client): Metrics {
  return {
    contentType: "text/plain; version=0.0.4; charset=utf-8",
    render: async () => "",
    close: () => undefined,
  };
}
