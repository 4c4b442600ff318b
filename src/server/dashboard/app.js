/* global document, location, setTimeout, clearTimeout */
/**
 * The pgwake dashboard: queues, live charts, jobs and schedules over the HTTP API. Plain ES
 * modules served by the pgwake server itself (no build step, nothing from the internet).
 *
 * Data is read again when events say jobs changed (at most every 2 s) and every 10 s otherwise;
 * the charts draw the `rate` event the server sends every second.
 */
import { api, onUnauthorised } from "./api.js";
import { LineChart } from "./chart.js";
import { describe, JobDetail } from "./detail.js";
import { byId, el } from "./dom.js";
import { openEventStream } from "./events.js";
import { JobList } from "./jobs.js";
import { renderQueues } from "./queues.js";
import { renderSchedules } from "./schedules.js";

const MIN_REFRESH_GAP_MS = 2000;
const REFRESH_EVERY_MS = 10_000;

let queues = [];
const maxAttemptsOf = (name) => queues.find((queue) => queue.name === name)?.maxAttempts;

// --- Notices: errors from the API, one per source, replaced or cleared by the next attempt. ---

const notices = byId("notices");

function notice(key, text) {
  const existing = notices.querySelector(`[data-key="${key}"]`);
  const node = el(
    "div",
    { className: "notice", dataset: { key }, attrs: { role: "alert" } },
    el("p", { text }),
    el("button", { type: "button", text: "Dismiss", on: { click: () => node.remove() } }),
  );
  if (existing) existing.replaceWith(node);
  else notices.append(node);
}

function clearNotice(key) {
  notices.querySelector(`[data-key="${key}"]`)?.remove();
}

// --- Views. ---

const detail = new JobDetail(
  {
    dialog: byId("job-dialog"),
    title: byId("job-title"),
    message: byId("job-message"),
    body: byId("job-body"),
    close: byId("job-close"),
  },
  { onChanged: () => void refresh(), onClosed: () => jobs.select(null), maxAttemptsOf },
);

function openJob(id) {
  jobs.select(id);
  void detail.open(id);
}

const jobs = new JobList(
  {
    form: byId("job-filters"),
    queue: byId("filter-queue"),
    state: byId("filter-state"),
    limit: byId("filter-limit"),
    tbody: byId("job-rows"),
    empty: byId("jobs-empty"),
    first: byId("page-first"),
    previous: byId("page-previous"),
    next: byId("page-next"),
    page: byId("page-label"),
    summary: byId("jobs-summary"),
  },
  { onOpen: openJob, onError: (error) => failed("jobs", error), maxAttemptsOf },
);

function showJobs(queue, state) {
  jobs.show(queue, state).then(
    () => clearNotice("jobs"),
    (error) => failed("jobs", error),
  );
  byId("jobs").scrollIntoView({ block: "start" });
  byId("jobs-title").focus({ preventScroll: true });
}

async function loadQueues() {
  queues = (await api("/api/queues")).queues;
  renderQueues({ tbody: byId("queue-rows"), empty: byId("queues-empty") }, queues, showJobs);
  jobs.setQueues(queues.map((queue) => queue.name));
}

async function loadSchedules() {
  const { schedules } = await api("/api/schedules");
  renderSchedules(
    { tbody: byId("schedule-rows"), empty: byId("schedules-empty") },
    schedules,
    openJob,
  );
}

const SOURCES = { queues: "Queues", jobs: "Jobs", schedules: "Schedules" };

function failed(key, error) {
  if (error?.status === 401) return; // the sign-in banner says it
  notice(key, `${SOURCES[key]} could not be loaded: ${describe(error)}`);
}

async function section(key, load) {
  try {
    await load();
    clearNotice(key);
  } catch (error) {
    failed(key, error);
  }
}

// --- Refreshing: at once on demand, within 2 s of an event, and every 10 s. ---

let signedOut = false;
let lastRefresh = 0;
let timer;
let running = false;
let again = false;

async function refresh() {
  if (signedOut) return;
  if (running) {
    again = true;
    return;
  }
  running = true;
  clearTimeout(timer);
  lastRefresh = Date.now();
  try {
    await section("queues", loadQueues); // first: the job list shows the queues' max attempts
    await Promise.all([
      section("jobs", () => jobs.load()),
      section("schedules", loadSchedules),
      detail.reload(),
    ]);
    byId("updated").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } finally {
    running = false;
    if (!signedOut) timer = setTimeout(timedRefresh, REFRESH_EVERY_MS);
    if (again) {
      again = false;
      refreshSoon();
    }
  }
}

function timedRefresh() {
  if (document.hidden) timer = setTimeout(timedRefresh, REFRESH_EVERY_MS);
  else void refresh();
}

/** Refreshes once at least 2 s have passed since the last refresh. */
function refreshSoon() {
  if (signedOut) return;
  clearTimeout(timer);
  timer = setTimeout(refresh, Math.max(0, lastRefresh + MIN_REFRESH_GAP_MS - Date.now()));
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refreshSoon();
});
byId("refresh").addEventListener("click", () => void refresh());

// --- Charts. ---

const sum = (points, key) => points.reduce((total, point) => total + (point.values[key] ?? 0), 0);
const ms = (value) => (value < 10 ? value.toFixed(1) : String(Math.round(value)));

const throughput = new LineChart(byId("throughput-chart"), {
  series: [
    { key: "completed", color: "--chart-completed" },
    { key: "failed", color: "--chart-failed" },
  ],
  floor: 4,
  onUpdate: (points) => {
    const last = points.at(-1)?.values ?? {};
    byId("throughput-summary").textContent =
      `Last 2 minutes: ${sum(points, "completed")} completed, ${sum(points, "failed")} failed. ` +
      `Last second: ${last.completed ?? 0} completed, ${last.failed ?? 0} failed.`;
  },
});

const latency = new LineChart(byId("latency-chart"), {
  series: [
    { key: "p50", color: "--chart-p50" },
    { key: "p95", color: "--chart-p95" },
  ],
  floor: 10,
  unit: " ms",
  onUpdate: (points) => {
    const latest = points.findLast((point) => typeof point.values.p50 === "number");
    byId("latency-summary").textContent = latest
      ? `Latest: p50 ${ms(latest.values.p50)} ms, p95 ${ms(latest.values.p95)} ms ` +
        `(${latest.values.count} claim${latest.values.count === 1 ? "" : "s"} in that second). ` +
        `${sum(points, "count")} claims by this server's workers in the last 2 minutes.`
      : "No claims by this server's workers in the last 2 minutes.";
  },
});

// --- Live events. ---

const STATUS_TEXT = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  stopped: "Not live",
};

const closeEvents = openEventStream({
  onEvent: (type, data) => {
    if (type === "rate") {
      throughput.push(data.at, { completed: data.completed, failed: data.failed });
      const wake = data.wakeLatencyMs ?? {};
      latency.push(data.at, { p50: wake.p50, p95: wake.p95, count: wake.count ?? 0 });
    } else if (type === "ready" || type === "done") {
      if (type === "done" && detail.openId && data.ids?.includes(detail.openId)) {
        void detail.reload();
      }
      refreshSoon();
    }
  },
  onStatus: (status, why) => {
    const node = byId("stream-status");
    node.dataset.status = status;
    node.textContent = STATUS_TEXT[status] ?? status;
    node.title = why ?? "";
  },
});

// --- Signed out: the token is missing or wrong. ---

onUnauthorised(() => {
  if (signedOut) return;
  signedOut = true;
  clearTimeout(timer);
  closeEvents();
  byId("signed-out").hidden = false;
});
byId("reload").addEventListener("click", () => location.reload());

void refresh();
