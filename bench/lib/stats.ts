/** Rates, percentiles and medians. */
import type { Latency, Outcome } from "./types.ts";

export function rate(
  jobs: number,
  done: number,
  ms: number,
): Pick<Outcome, "jobs" | "done" | "ms" | "perSecond" | "partial"> {
  return {
    jobs,
    done,
    ms: round(ms),
    perSecond: ms > 0 ? Math.round((done * 1000) / ms) : 0,
    partial: done < jobs,
  };
}

/**
 * Nearest-rank percentiles over `n` samples, of which `samples` arrived: the missing ones count
 * as slower than any that arrived, so a percentile they reach is reported as null ("not reached").
 */
export function latency(samples: number[], n: number): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number): number | null => {
    const index = Math.min(n - 1, Math.ceil((p / 100) * n) - 1);
    return index < sorted.length ? round(sorted[Math.max(0, index)]!) : null;
  };
  return {
    n,
    arrived: samples.length,
    p50: at(50),
    p95: at(95),
    p99: at(99),
    max: sorted.length === n ? round(sorted[n - 1] ?? 0) : null,
  };
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
