/**
 * Periodic schedules (`GET /api/schedules`): timing, next and last run, and the last job sent.
 */
import { compactJson, el, formatDuration, shortId, timeEl, unchanged } from "./dom.js";

/** Shows `schedules` in `tbody` (and `empty` when there are none). */
export function renderSchedules({ tbody, empty }, schedules, onOpenJob) {
  if (unchanged(tbody, schedules)) return;
  tbody.replaceChildren(
    ...schedules.map((schedule) =>
      el(
        "tr",
        { dataset: { schedule: schedule.name } },
        el("th", { attrs: { scope: "row" }, text: schedule.name }),
        el("td", { text: schedule.queue }),
        el("td", {}, timing(schedule)),
        el("td", {}, timeEl(schedule.nextRunAt)),
        el("td", {}, timeEl(schedule.lastRunAt)),
        el(
          "td",
          {},
          schedule.lastJobId
            ? el("button", {
                type: "button",
                className: "link mono",
                text: shortId(schedule.lastJobId),
                attrs: { "aria-label": `Job ${schedule.lastJobId}`, title: schedule.lastJobId },
                on: { click: () => onOpenJob(schedule.lastJobId) },
              })
            : el("span", { className: "muted", text: "—" }),
        ),
        el("td", { className: "mono payload", text: compactJson(schedule.payload, 60) }),
      ),
    ),
  );
  empty.hidden = schedules.length > 0;
}

function timing(schedule) {
  if (schedule.cron) {
    return el(
      "span",
      {},
      el("code", { text: schedule.cron }),
      schedule.timezone ? ` (${schedule.timezone})` : null,
    );
  }
  return `every ${formatDuration(schedule.everyMs)}`;
}
