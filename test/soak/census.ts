/**
 * A census of everything a client keeps in memory that could grow with the jobs it handles: the
 * size of every Map, Set and array reachable from its runtime (completion waiters, held jobs,
 * heartbeat leases, claim lanes, wake-up waiters, coalescers' pending items, the worker's buffer
 * and tasks…), the listeners on its emitters and abort signals, and which timer fields are armed.
 *
 * It walks the object graph instead of naming fields, so a rewritten module is still counted (and
 * a new collection shows up by itself). Paths name the first way an object was reached, breadth
 * first; the values of a Map, Set or array share the path `name[]`, their sizes summed.
 */
import { getEventListeners } from "node:events";
import { EventEmitter } from "eventemitter3";

/** Path → count. `.size`/`.length` entries are collections, `#on:…` listeners, `#armed` timers. */
export type Census = Map<string, number>;

/** How deep the walk goes; the runtime's structures are at most five levels down. */
const MAX_DEPTH = 8;

/** Counts the collections, listeners and armed timers reachable from `root`. */
export function takeCensus(root: object): Census {
  const census: Census = new Map();
  const add = (path: string, n: number): void => void census.set(path, (census.get(path) ?? 0) + n);
  const seen = new WeakSet<object>();
  let level: Array<[unknown, string]> = [[root, "runtime"]];
  for (let depth = 0; depth <= MAX_DEPTH && level.length > 0; depth++) {
    const next: Array<[unknown, string]> = [];
    const visit = (value: unknown, path: string): void => void next.push([value, path]);
    for (const [value, path] of level) {
      if (typeof value !== "object" || value === null || seen.has(value)) continue;
      seen.add(value);
      describe(value, path, add, visit);
    }
    level = next;
  }
  return census;
}

function describe(
  value: object,
  path: string,
  add: (path: string, n: number) => void,
  visit: (value: unknown, path: string) => void,
): void {
  // Promises, buffers and sockets hold nothing of pgwake's; functions (the postgres.js pools
  // among them) are not walked at all.
  if (value instanceof Promise || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return;
  if (isTimer(value)) return add(`${path}#armed`, value._destroyed ? 0 : 1);
  if (value instanceof AbortController) return visit(value.signal, `${path}.signal`);
  if (value instanceof EventTarget) {
    return add(`${path}#on:abort`, getEventListeners(value, "abort").length);
  }
  if (value instanceof Map) {
    add(`${path}.size`, value.size);
    for (const [key, item] of value) {
      visit(key, `${path}[]key`);
      visit(item, `${path}[]`);
    }
    return;
  }
  if (value instanceof Set || Array.isArray(value)) {
    add(`${path}.${value instanceof Set ? "size" : "length"}`, Array.from(value).length);
    for (const item of value) visit(item, `${path}[]`);
    return;
  }
  if (value instanceof EventEmitter) {
    for (const event of value.eventNames()) {
      add(`${path}#on:${String(event)}`, value.listenerCount(event));
    }
  }
  for (const key of Object.getOwnPropertyNames(value)) {
    if (value instanceof EventEmitter && (key === "_events" || key === "_eventsCount")) continue;
    visit((value as Record<string, unknown>)[key], `${path}.${key}`);
  }
}

function isTimer(value: object): value is NodeJS.Timeout & { _destroyed: boolean } {
  return value.constructor?.name === "Timeout" && "_destroyed" in value;
}

/** The census entries that count something (collections and listeners), without timers. */
export function countedEntries(census: Census): Census {
  return new Map([...census].filter(([path]) => !path.endsWith("#armed")));
}

/** Armed timer fields, summed. */
export function armedTimers(census: Census): number {
  let armed = 0;
  for (const [path, n] of census) if (path.endsWith("#armed")) armed += n;
  return armed;
}

/** Sum of collection sizes, and of listeners. */
export function censusTotals(census: Census): { items: number; listeners: number } {
  let items = 0;
  let listeners = 0;
  for (const [path, n] of census) {
    if (path.includes("#on:")) listeners += n;
    else if (!path.endsWith("#armed")) items += n;
  }
  return { items, listeners };
}

/** Entries whose count differs between two censuses ("path: before → after"), collections only. */
export function censusDiff(before: Census, after: Census): string[] {
  const a = countedEntries(before);
  const b = countedEntries(after);
  const diffs: string[] = [];
  for (const path of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(path) ?? 0;
    const y = b.get(path) ?? 0;
    if (x !== y) diffs.push(`${path}: ${x} → ${y}`);
  }
  return diffs.sort();
}
