/**
 * A job's detail in a modal <dialog>: payload, attributes, attempts, errors with their stacks,
 * result, timestamps and lease holder, with Cancel (queued or running) and Retry (failed or
 * cancelled). After an action the job is read again and `onChanged` refreshes the rest.
 */
import { api } from "./api.js";
import { el, fill, prettyJson, stateBadge, timeEl, unchanged } from "./dom.js";

const CANCELLABLE = ["queued", "running"];
const RETRYABLE = ["failed", "cancelled"];

export class JobDetail {
  /**
   * @param {{ dialog: HTMLDialogElement, title: HTMLElement, message: HTMLElement,
   *   body: HTMLElement, close: HTMLButtonElement }} parts
   * @param {{ onChanged: () => void, onClosed: () => void,
   *   maxAttemptsOf: (queue: string) => number | undefined }} hooks
   */
  constructor(parts, { onChanged, onClosed, maxAttemptsOf }) {
    this.parts = parts;
    this.onChanged = onChanged;
    this.maxAttemptsOf = maxAttemptsOf;
    this.id = null;
    this.loads = 0;
    parts.close.addEventListener("click", () => parts.dialog.close());
    parts.dialog.addEventListener("close", () => {
      this.id = null;
      onClosed();
    });
  }

  /** The id of the job shown, or null when closed. */
  get openId() {
    return this.id;
  }

  /** Opens the dialog on job `id` and reads it. */
  async open(id) {
    this.id = id;
    this.parts.title.textContent = "Job";
    fill(this.parts.body, el("p", { className: "muted", text: "Loading…" }));
    unchanged(this.parts.body, null); // forget the job shown before: draw this one when it comes
    this.say("");
    if (!this.parts.dialog.open) this.parts.dialog.showModal();
    await this.reload();
  }

  /** Reads the job again (errors are shown in the dialog). */
  async reload() {
    const id = this.id;
    if (id === null) return;
    const load = ++this.loads;
    try {
      const { job } = await api(`/api/jobs/${encodeURIComponent(id)}`);
      if (load === this.loads && this.id === id) this.render(job);
    } catch (error) {
      if (load === this.loads && this.id === id) this.say(describe(error), "error");
    }
  }

  /** A status line under the title ("" clears it). */
  say(text, kind = "info") {
    const { message } = this.parts;
    message.textContent = text;
    message.hidden = text === "";
    message.className = `message ${kind}`;
  }

  async act(action, button) {
    const id = this.id;
    button.disabled = true;
    this.say(action === "cancel" ? "Cancelling…" : "Retrying…");
    try {
      const answer = await api(`/api/jobs/${encodeURIComponent(id)}/${action}`, { method: "POST" });
      if (action === "cancel") {
        this.say(
          answer.cancelled ? "Cancelled." : "Not cancelled: the job had already finished.",
          answer.cancelled ? "success" : "info",
        );
      } else {
        this.say(
          answer.retried
            ? "Queued again with a fresh set of attempts."
            : "Not retried: the job is no longer failed or cancelled.",
          answer.retried ? "success" : "info",
        );
      }
    } catch (error) {
      this.say(describe(error), "error");
    } finally {
      button.disabled = false;
    }
    if (this.id === id) await this.reload();
    this.onChanged();
  }

  render(job) {
    const { title, body } = this.parts;
    if (unchanged(body, job)) return;
    title.replaceChildren("Job ", el("span", { className: "mono", text: job.id }));
    const actions = el("div", { className: "actions" });
    if (CANCELLABLE.includes(job.state)) {
      const button = el("button", {
        type: "button",
        className: "danger",
        text: "Cancel job",
        on: { click: () => this.act("cancel", button) },
      });
      actions.append(button);
    }
    if (RETRYABLE.includes(job.state)) {
      const button = el("button", {
        type: "button",
        text: "Retry job",
        on: { click: () => this.act("retry", button) },
      });
      actions.append(button);
    }
    const max = job.maxAttempts ?? this.maxAttemptsOf(job.queue);
    const facts = [
      ["State", stateBadge(job.state)],
      ["Queue", job.queue],
      ["Attempt", max ? `${job.attempt} of ${max}` : String(job.attempt)],
      ["Priority", String(job.priority)],
      ["Created", timeEl(job.createdAt)],
      ["Runs at", timeEl(job.runAt)],
      ["Started", timeEl(job.startedAt)],
      ["Finished", timeEl(job.finishedAt)],
      ["Leased by", job.leasedBy ?? "—"],
      ["Lease expires", timeEl(job.leaseExpiresAt)],
    ];
    fill(
      body,
      actions,
      el(
        "dl",
        { className: "facts", dataset: { state: job.state } },
        facts.map(([term, value]) => el("div", {}, el("dt", { text: term }), el("dd", {}, value))),
      ),
      block("Payload", prettyJson(job.payload), "payload"),
      job.attributes && Object.keys(job.attributes).length > 0
        ? block("Attributes", prettyJson(job.attributes), "attributes")
        : null,
      job.state === "completed" || job.result !== null
        ? block("Result", prettyJson(job.result), "result")
        : null,
      errorList(job.errors ?? []),
    );
  }
}

function block(heading, text, name) {
  return el(
    "section",
    { className: "block", dataset: { block: name } },
    el("h3", { text: heading }),
    el("pre", { className: "json", text, attrs: { tabindex: 0 } }),
  );
}

function errorList(errors) {
  if (errors.length === 0) return null;
  return el(
    "section",
    { className: "block", dataset: { block: "errors" } },
    el("h3", { text: `Errors (${errors.length}, oldest first)` }),
    el(
      "ol",
      { className: "errors" },
      errors.map((error) => {
        const { name, message, stack, attempt, at, ...more } = error ?? {};
        return el(
          "li",
          {},
          attempt !== undefined || at !== undefined
            ? el(
                "p",
                { className: "error-when muted" },
                attempt !== undefined ? `Attempt ${attempt}` : "",
                attempt !== undefined && at ? ", " : "",
                at ? timeEl(at) : null,
              )
            : null,
          el(
            "p",
            { className: "error-message" },
            name ? el("strong", { text: `${name}: ` }) : null,
            String(message ?? ""),
          ),
          stack
            ? el("details", {}, el("summary", { text: "Stack" }), el("pre", { text: stack }))
            : null,
          Object.keys(more).length > 0
            ? el(
                "details",
                {},
                el("summary", { text: "Other fields" }),
                el("pre", { className: "json", text: prettyJson(more) }),
              )
            : null,
        );
      }),
    ),
  );
}

/** An error as one line for the user: the API's code and message. */
export function describe(error) {
  if (error?.code && error?.message) return `${error.message} (${error.code})`;
  return String(error?.message ?? error);
}
