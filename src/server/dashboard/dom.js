/* global document, Node */
/**
 * Building the page from data without ever parsing data as HTML: every string goes in through
 * textContent or setAttribute, so a payload like "<img onerror=…>" shows as text.
 */

/**
 * Creates an element. `props`: `className`, `text`, `attrs` (set as attributes), `dataset`, `on`
 * (event listeners), and any other DOM property (`type`, `disabled`, `hidden`, `value`, …).
 * Children: nodes, or strings and numbers (as text); null, undefined and false are skipped.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  const { className, text, attrs, dataset, on, ...rest } = props;
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value !== undefined && value !== null && value !== false) {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  Object.assign(node.dataset, dataset ?? {});
  for (const [type, listener] of Object.entries(on ?? {})) node.addEventListener(type, listener);
  Object.assign(node, rest);
  append(node, children);
  return node;
}

/** Replaces `node`'s children, taking them as {@link el} does (arrays flattened, null skipped). */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else
      node.append(
        typeof child === "string" ? child : child instanceof Node ? child : String(child),
      );
  }
}

const shown = new WeakMap();

/**
 * Whether `data` is what `node` already shows (it is then remembered as shown). Refreshes skip
 * redrawing what did not change, so focus, open <details> and scroll positions survive them.
 */
export function unchanged(node, data) {
  const text = JSON.stringify(data);
  if (shown.get(node) === text) return true;
  shown.set(node, text);
  return false;
}

/** The element with this id; throws if the page lacks it (a broken page should say so). */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`the dashboard page has no element #${id}`);
  return node;
}

/** The last 8 characters of a job id: the random part of a UUIDv7 (its start is the time). */
export function shortId(id) {
  return `…${String(id).slice(-8)}`;
}

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric",
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

/** A `<time>` in local time (the exact ISO value as its tooltip), or a dash when absent. */
export function timeEl(iso) {
  if (!iso) return el("span", { className: "muted", text: "—", attrs: { "aria-label": "none" } });
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return el("span", { text: String(iso) });
  return el("time", { text: dateTime.format(date), attrs: { datetime: iso, title: iso } });
}

/** Milliseconds as "250 ms", "30 s", "5 min", "2 h", "7 d" (the largest unit that divides it). */
export function formatDuration(ms) {
  if (ms === null || ms === undefined) return "—";
  const units = [
    [86_400_000, "d"],
    [3_600_000, "h"],
    [60_000, "min"],
    [1000, "s"],
  ];
  for (const [size, unit] of units) {
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`;
  }
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)} s`;
  return `${ms} ms`;
}

/** JSON as indented text; `undefined` reads as null. */
export function prettyJson(value) {
  return JSON.stringify(value ?? null, null, 2);
}

/** JSON on one line, cut to `max` characters. */
export function compactJson(value, max = 80) {
  const text = JSON.stringify(value ?? null);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** A state badge (`queued`, `running`, `completed`, `failed`, `cancelled`). */
export function stateBadge(state) {
  return el("span", { className: `badge state-${state}`, text: state, dataset: { state } });
}
