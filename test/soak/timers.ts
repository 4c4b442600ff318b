/**
 * Counts the timers pending in this process, by the line of src/ that set them.
 *
 * `process.getActiveResourcesInfo()` leaves out unref'd timers, and pgwake unrefs all of its own
 * (src/util/timer.ts), so a leaked one would never show there. This wraps the global
 * `setTimeout`/`setInterval` (the functions src/ calls) to keep every timer that has neither
 * fired nor been cleared. Install it before the client starts.
 */
import { fileURLToPath } from "node:url";

const srcDir = fileURLToPath(new URL("../../src/", import.meta.url));

const pending = new Map<NodeJS.Timeout, string>();
let installed = false;

/** Where a timer was set: the first frame in src/ (`file.ts:line`), else "elsewhere". */
function siteOf(stack: string | undefined): string {
  for (const line of (stack ?? "").split("\n").slice(1)) {
    const at = line.indexOf(srcDir);
    if (at < 0) continue;
    const site = line.slice(at + srcDir.length).replace(/\)$/, "");
    if (site.startsWith("util/timer.ts")) continue; // the wrapper every service uses
    return site.replace(/:\d+$/, ""); // file:line, without the column
  }
  return "elsewhere";
}

/** Wraps the global timer functions (once per process). */
export function trackTimers(): void {
  if (installed) return;
  installed = true;
  const { setTimeout: set, setInterval: every, clearTimeout: clear, clearInterval } = globalThis;
  const wrapped = (start: typeof set, once: boolean) =>
    function (callback: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) {
      const site = siteOf(new Error().stack);
      const timer = start(
        (...callArgs: unknown[]) => {
          if (once) pending.delete(timer);
          callback(...callArgs);
        },
        ms,
        ...args,
      );
      pending.set(timer, site);
      return timer;
    };
  const forget = (stop: typeof clear) => (timer?: NodeJS.Timeout | string | number) => {
    if (typeof timer === "object") pending.delete(timer);
    stop(timer);
  };
  globalThis.setTimeout = Object.assign(wrapped(set, true), set) as typeof set;
  globalThis.setInterval = Object.assign(wrapped(every as typeof set, false), every) as never;
  globalThis.clearTimeout = forget(clear);
  globalThis.clearInterval = forget(clearInterval);
}

/** Pending timers by the src/ line that set them ("elsewhere": tests, postgres.js). */
export function pendingTimers(): Map<string, number> {
  const bySite = new Map<string, number>();
  for (const site of pending.values()) bySite.set(site, (bySite.get(site) ?? 0) + 1);
  return bySite;
}

/** Pending timers set by src/. */
export function pendingSrcTimers(): number {
  let n = 0;
  for (const site of pending.values()) if (site !== "elsewhere") n++;
  return n;
}

/** Active handles and requests by type (ref'd timers, sockets, child processes…). */
export function activeResources(): Map<string, number> {
  const byType = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) {
    byType.set(type, (byType.get(type) ?? 0) + 1);
  }
  return byType;
}
