import type { CliIo } from "./command.js";

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

export interface Interrupt {
  /** Aborts on the first SIGINT, SIGTERM or SIGHUP: stop gracefully. */
  signal: AbortSignal;
  /** Removes the signal handlers (the default behaviour comes back). */
  dispose(): void;
}

/**
 * Turns the first SIGINT, SIGTERM or SIGHUP into an aborted signal, so a long-running command
 * (`run`, `bench`) can stop gracefully; a second one exits at once with 130, for when stopping
 * gracefully hangs.
 *
 * @example
 * ```ts
 * const interrupt = onInterrupt(io);
 * try { await untilAborted(interrupt.signal); } finally { interrupt.dispose(); }
 * ```
 */
export function onInterrupt(io: CliIo): Interrupt {
  const controller = new AbortController();
  const handler = (signal: NodeJS.Signals): void => {
    if (!controller.signal.aborted) {
      controller.abort(signal);
      return;
    }
    io.stderr(`pgwake: ${signal} again: exiting without waiting`);
    process.exit(130);
  };
  for (const signal of SIGNALS) process.on(signal, handler);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const signal of SIGNALS) process.off(signal, handler);
    },
  };
}

/** Resolves when `signal` aborts. */
export function aborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true }),
  );
}
