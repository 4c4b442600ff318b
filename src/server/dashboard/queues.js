/**
 * The queues overview: one row per queue with its jobs counted by state and its options. Each
 * count is a button that lists those jobs below.
 */
import { el, formatDuration, unchanged } from "./dom.js";

export const STATES = ["queued", "running", "completed", "failed", "cancelled"];

/**
 * Shows `queues` in `tbody` (and `empty` when there are none). `onShowJobs(queue, state)` is
 * called when a queue name (state "") or a count is clicked.
 */
export function renderQueues({ tbody, empty }, queues, onShowJobs) {
  if (unchanged(tbody, queues)) return;
  tbody.replaceChildren(...queues.map((queue) => queueRow(queue, onShowJobs)));
  empty.hidden = queues.length > 0;
}

function queueRow(queue, onShowJobs) {
  const count = (state) => {
    const n = queue.counts?.[state] ?? 0;
    const cell = el(
      "td",
      { className: `num${n === 0 ? " zero" : ""}`, dataset: { state } },
      el("button", {
        type: "button",
        className: "link count",
        text: n,
        attrs: { "aria-label": `${n} ${state} in ${queue.name}: list them` },
        on: { click: () => onShowJobs(queue.name, state) },
      }),
    );
    if (state === "queued") {
      const parts = [];
      if (queue.delayed) parts.push(`${queue.delayed} delayed`);
      if (queue.waiting) parts.push(`${queue.waiting} waiting`);
      if (parts.length > 0) cell.append(el("span", { className: "sub", text: parts.join(", ") }));
    }
    return cell;
  };
  return el(
    "tr",
    { dataset: { queue: queue.name } },
    el(
      "th",
      { attrs: { scope: "row" } },
      el("button", {
        type: "button",
        className: "link queue-name",
        text: queue.name,
        attrs: { "aria-label": `${queue.name}: list its jobs` },
        on: { click: () => onShowJobs(queue.name, "") },
      }),
    ),
    STATES.map(count),
    el("td", {}, optionList(queue)),
  );
}

function optionList(queue) {
  const items = [`${queue.maxAttempts} attempt${queue.maxAttempts === 1 ? "" : "s"}`];
  const backoff = queue.backoff;
  if (backoff) {
    items.push(
      `backoff ${formatDuration(backoff.delay)} ×${backoff.factor} ≤ ${formatDuration(backoff.max)}`,
    );
  }
  items.push(`lease ${formatDuration(queue.leaseTime)}`);
  items.push(queue.maxSize ? `max ${queue.maxSize} jobs` : "unbounded");
  if (queue.deadLetter) items.push(`dead letters → ${queue.deadLetter}`);
  items.push(`kept ${formatDuration(queue.retention)}`);
  return el(
    "ul",
    { className: "options" },
    items.map((text) => el("li", { text })),
  );
}
