/* global CSS, document */
/**
 * The job list: filters by queue and state, pages through `GET /api/jobs` with `nextCursor`
 * (keeping the cursor of every page seen, to go back), and opens a job's detail on click.
 */
import { api, query } from "./api.js";
import { compactJson, el, fill, shortId, stateBadge, timeEl, unchanged } from "./dom.js";

export class JobList {
  /**
   * @param {object} parts the page's elements: form, queue, state, limit (selects), tbody, empty,
   *   first, previous, next (buttons), page (the page label), summary (what the list shows)
   * @param {{ onOpen: (id: string) => void, onError: (error: unknown) => void,
   *   maxAttemptsOf: (queue: string) => number | undefined }} hooks `onError` gets the errors of
   *   loads the user started (a filter, a page button); `load()` throws its own.
   */
  constructor(parts, { onOpen, onError, maxAttemptsOf }) {
    this.parts = parts;
    this.onOpen = onOpen;
    this.onError = onError;
    this.maxAttemptsOf = maxAttemptsOf;
    /** The cursor of each page seen so far: [null, page 2's, page 3's, …]. */
    this.cursors = [null];
    this.page = 0;
    this.nextCursor = null;
    this.selected = null;
    this.loads = 0;
    parts.form.addEventListener("submit", (event) => event.preventDefault());
    for (const select of [parts.queue, parts.state, parts.limit]) {
      select.addEventListener("change", () => this.restart().catch(this.onError));
    }
    parts.first.addEventListener("click", () => this.go(0).catch(this.onError));
    parts.previous.addEventListener("click", () => this.go(this.page - 1).catch(this.onError));
    parts.next.addEventListener("click", () => {
      if (this.nextCursor === null) return;
      this.cursors[this.page + 1] = this.nextCursor;
      this.go(this.page + 1).catch(this.onError);
    });
  }

  /** Offers these queue names in the queue filter, keeping the current choice. */
  setQueues(names) {
    const select = this.parts.queue;
    const current = select.value;
    const all = current && !names.includes(current) ? [...names, current] : names;
    fill(
      select,
      el("option", { value: "", text: "All queues" }),
      all.map((name) => el("option", { value: name, text: name })),
    );
    select.value = current;
  }

  /** Lists the jobs of `queue` in `state` ("" for any), from the first page. */
  show(queue, state) {
    if (queue && ![...this.parts.queue.options].some((option) => option.value === queue)) {
      this.parts.queue.append(el("option", { value: queue, text: queue }));
    }
    this.parts.queue.value = queue;
    this.parts.state.value = state;
    return this.restart();
  }

  /** Marks the job whose detail is open. */
  select(id) {
    this.selected = id;
    for (const row of this.parts.tbody.rows) {
      row.classList.toggle("selected", row.dataset.jobId === id);
    }
  }

  restart() {
    this.cursors = [null];
    return this.go(0);
  }

  go(page) {
    this.page = Math.max(0, page);
    return this.load();
  }

  /** Reloads the current page. Throws the API's error (an older, overtaken load returns). */
  async load() {
    const load = ++this.loads;
    const filter = { queue: this.parts.queue.value, state: this.parts.state.value };
    const page = await api(
      `/api/jobs${query({ ...filter, limit: this.parts.limit.value, cursor: this.cursors[this.page] })}`,
    );
    if (load !== this.loads) return;
    this.nextCursor = page.nextCursor;
    this.render(page.jobs, filter);
  }

  render(jobs, { queue, state }) {
    const { tbody, empty, first, previous, next, summary } = this.parts;
    const max = jobs.map((job) => this.maxAttemptsOf(job.queue));
    if (unchanged(tbody, { jobs, max, queue, state, page: this.page, next: this.nextCursor }))
      return;
    const noun = `${state ? `${state} ` : ""}job${jobs.length === 1 ? "" : "s"}`;
    summary.textContent =
      `${jobs.length} ${noun} in ${queue || "all queues"}, page ${this.page + 1}` +
      (this.nextCursor === null ? "" : " (older ones on the next page)");
    // Refreshing replaces the rows: keep the keyboard focus on the same job.
    const focused = document.activeElement?.closest?.("tr")?.dataset.jobId;
    tbody.replaceChildren(...jobs.map((job) => this.row(job)));
    if (focused) tbody.querySelector(`tr[data-job-id="${CSS.escape(focused)}"] button`)?.focus();
    empty.hidden = jobs.length > 0;
    first.disabled = previous.disabled = this.page === 0;
    next.disabled = this.nextCursor === null;
    this.parts.page.textContent = `Page ${this.page + 1}`;
  }

  row(job) {
    const max = job.maxAttempts ?? this.maxAttemptsOf(job.queue);
    const open = () => this.onOpen(job.id);
    return el(
      "tr",
      {
        className: job.id === this.selected ? "selected" : "",
        dataset: { jobId: job.id, state: job.state },
        on: { click: (event) => !event.target.closest("button") && open() },
      },
      el(
        "td",
        {},
        el("button", {
          type: "button",
          className: "link mono",
          text: shortId(job.id),
          attrs: { "aria-label": `Job ${job.id}`, title: job.id },
          on: { click: open },
        }),
      ),
      el("td", { text: job.queue }),
      el("td", {}, stateBadge(job.state)),
      el("td", { className: "num", text: max ? `${job.attempt} / ${max}` : job.attempt }),
      el("td", {}, timeEl(job.createdAt)),
      el("td", {}, timeEl(job.finishedAt)),
      el("td", {
        className: "mono payload",
        text: compactJson(job.payload, 60),
        title: compactJson(job.payload, 500),
      }),
    );
  }
}
