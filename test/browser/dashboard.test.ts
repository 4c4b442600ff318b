/**
 * The web dashboard in a real headless Chromium: Debian's /usr/bin/chromium (or PGWAKE_CHROMIUM)
 * driven by playwright-core; no browser is ever downloaded. Not part of `npm test`, since a fresh
 * machine may have no Chromium: run `npm run test:browser`.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Locator, type Page } from "playwright-core";
import { JobFailedError } from "../../src/index.js";
import { startServer } from "../../src/server/start.js";
import { dbTest, within, type DbContext } from "../helpers/db.js";

const CHROMIUM = process.env.PGWAKE_CHROMIUM ?? "/usr/bin/chromium";
const ARTIFACTS = fileURLToPath(new URL("../artifacts/", import.meta.url));
const WAIT_MS = 10_000;

async function launch(defer: DbContext["defer"]): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: install it (apt-get install chromium) or set PGWAKE_CHROMIUM`,
    );
  }
  const browser = await within(
    chromium.launch({
      executablePath: CHROMIUM,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
      ],
    }),
    30_000,
    `Chromium (${CHROMIUM}) to start`,
  );
  defer(() => browser.close());
  return browser;
}

/** A page that records every request it makes and every script error. */
async function openPage(browser: Browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  // Clicks and fills fail after this long (naming the element), rather than Playwright's 30 s.
  page.setDefaultTimeout(WAIT_MS);
  const requests: string[] = [];
  const errors: string[] = [];
  page.on("request", (request) => requests.push(request.url()));
  page.on("pageerror", (error) => errors.push(`uncaught: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console: ${message.text()}`);
  });
  return { page, requests, errors };
}

/** Waits until `locator` is visible; a timeout names `what`. */
async function seen(locator: Locator, what: string, timeout = WAIT_MS): Promise<Locator> {
  try {
    await locator.waitFor({ state: "visible", timeout });
  } catch (error) {
    throw new Error(`timed out after ${timeout}ms waiting for ${what}`, { cause: error });
  }
  return locator;
}

/** The count button of `queue`'s row for `state`. */
function count(page: Page, queue: string, state: string): Locator {
  return page.locator(`#queue-rows tr[data-queue="${queue}"] td[data-state="${state}"] button`);
}

function assertSameOrigin(requests: string[], serverUrl: string): void {
  const origin = new URL(serverUrl).origin;
  const elsewhere = requests.filter((url) => new URL(url).origin !== origin);
  assert.deepEqual(elsewhere, [], `the page only talks to its server (${origin})`);
  assert.ok(requests.length > 0);
}

async function jobState(admin: DbContext["admin"], schema: string, id: string): Promise<string> {
  const [row] = await admin.unsafe<Array<{ state: string }>>(
    `select state::text as state from "${schema}"._jobs where id = $1`,
    [id],
  );
  return row?.state ?? "(no such job)";
}

dbTest(
  "the dashboard shows queues, live charts, jobs and schedules, and cancels and retries jobs",
  async ({ connect, admin, schema, defer }) => {
    const client = await connect();
    const emails = await client.createQueue<{ to: string; note?: string }>("emails", {
      maxAttempts: 3,
    });
    const flaky = await client.createQueue<{ to: string }>("flaky", { maxAttempts: 1 });
    const reports = await client.createQueue<{ n: number }, { doubled: number }>("reports");
    await client.schedule("nightly", { queue: "reports", cron: "0 3 * * *", payload: { n: 0 } });

    // One job fails for good: a single attempt, and its handler throws.
    const flakyWorker = flaky.work(async () => {
      throw new Error("smtp said no");
    });
    const failing = flaky.send({ to: "nobody@example.com" });
    const outcome = await within(
      failing.completed.then(
        () => "completed",
        (error: unknown) => (error instanceof JobFailedError ? "failed" : String(error)),
      ),
      WAIT_MS,
      "the flaky job to fail",
    );
    assert.equal(outcome, "failed");
    await flakyWorker.stop();
    const failedId = await failing;

    // Three queued jobs; the newest carries markup that must show as text, never run.
    const hostile = `<img src=x onerror="document.body.dataset.pwned='yes'"><b>bold?</b>`;
    await emails.send({ to: "ada@example.com" });
    await emails.send({ to: "grace@example.com" });
    const hostileId = await emails.send({ to: "linus@example.com", note: hostile });

    const server = await startServer(client, { port: 0 });
    defer(() => server.close(1000));
    const browser = await launch(defer);
    const { page, requests, errors } = await openPage(browser);
    await page.goto(server.url);

    // Queues overview: counts by state and options.
    await seen(count(page, "emails", "queued").filter({ hasText: /^3$/ }), "emails: 3 queued");
    await seen(count(page, "flaky", "failed").filter({ hasText: /^1$/ }), "flaky: 1 failed");
    await seen(
      page.locator('#queue-rows tr[data-queue="emails"] ul.options', { hasText: "3 attempts" }),
      "emails' options",
    );
    await seen(
      page.locator('#schedule-rows tr[data-schedule="nightly"]', { hasText: "0 3 * * *" }),
      "the nightly schedule",
    );

    // Live charts: the event stream is open, so finished jobs show up in the next rate events.
    await seen(page.locator('#stream-status[data-status="live"]'), "the event stream to be live");
    reports.work(async (job) => ({ doubled: job.payload.n * 2 }), { concurrency: 4 });
    await reports.sendMany(Array.from({ length: 20 }, (_, n) => ({ payload: { n } })));
    await seen(
      page.locator("#throughput-summary", { hasText: "Last 2 minutes: 20 completed, 0 failed" }),
      "the throughput chart to count the 20 completed reports",
    );
    await seen(
      page.locator("#latency-summary", { hasText: /^Latest: p50 [\d.]+ ms, p95 [\d.]+ ms/ }),
      "the wake-latency chart's first claims",
    );
    await seen(count(page, "reports", "completed").filter({ hasText: /^20$/ }), "20 reports");

    // The job list, filtered to emails' queued jobs.
    await page.selectOption("#filter-queue", "emails");
    await page.selectOption("#filter-state", "queued");
    await seen(
      page.locator("#jobs-summary", { hasText: /^3 queued jobs in emails, page 1$/ }),
      "the list of emails' 3 queued jobs",
    );
    assert.equal(await page.locator('#job-rows tr[data-state="queued"]').count(), 3);

    // The newest job's detail: its payload is shown as text.
    await page.locator(`#job-rows tr[data-job-id="${hostileId}"] button`).click();
    const dialog = await seen(page.locator("#job-dialog[open]"), "the job dialog to open");
    await seen(dialog.locator('dl.facts[data-state="queued"]'), "the queued job's detail");
    const payload = await dialog.locator('[data-block="payload"] pre').textContent();
    assert.deepEqual(JSON.parse(payload ?? ""), { to: "linus@example.com", note: hostile });
    assert.equal(await page.locator("#job-body img, #job-rows img").count(), 0);
    assert.equal(await page.locator("body").getAttribute("data-pwned"), null);

    // Cancel it: the database says cancelled, and so does the page.
    await dialog.getByRole("button", { name: "Cancel job" }).click();
    await seen(dialog.locator("#job-message", { hasText: "Cancelled." }), "the cancel to answer");
    assert.equal(await jobState(admin, schema, hostileId), "cancelled");
    await seen(dialog.locator('dl.facts[data-state="cancelled"]'), "the detail to say cancelled");
    await seen(dialog.getByRole("button", { name: "Retry job" }), "Retry on the cancelled job");
    await seen(
      count(page, "emails", "cancelled").filter({ hasText: /^1$/ }),
      "emails: 1 cancelled",
    );
    await seen(count(page, "emails", "queued").filter({ hasText: /^2$/ }), "emails: 2 queued");
    await seen(
      page.locator("#jobs-summary", { hasText: /^2 queued jobs in emails/ }),
      "the cancelled job to leave the queued list",
    );
    await dialog.getByRole("button", { name: "Close" }).click();

    // The failed job, reached from its count: its error, then Retry.
    await count(page, "flaky", "failed").click();
    await seen(
      page.locator("#jobs-summary", { hasText: /^1 failed job in flaky/ }),
      "the list of flaky's failed job",
    );
    await page.locator(`#job-rows tr[data-job-id="${failedId}"] button`).click();
    await seen(dialog.locator('dl.facts[data-state="failed"]'), "the failed job's detail");
    await seen(
      dialog.locator('[data-block="errors"] .error-message', { hasText: "Error: smtp said no" }),
      "the failed job's error message",
    );
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}dashboard-job.png` });
    await dialog.getByRole("button", { name: "Retry job" }).click();
    await seen(dialog.locator('dl.facts[data-state="queued"]'), "the retried job to be queued");
    assert.equal(await jobState(admin, schema, failedId), "queued");
    await dialog.getByRole("button", { name: "Close" }).click();

    // Everything, for the screenshot.
    await page.selectOption("#filter-queue", { label: "All queues" });
    await page.selectOption("#filter-state", { label: "All states" });
    await seen(
      page.locator("#jobs-summary", { hasText: /^24 jobs in all queues/ }),
      "the list of all 24 jobs",
    );
    await page.evaluate("window.scrollTo(0, 0)"); // the sticky header at the top of the image
    await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true });

    assertSameOrigin(requests, server.url);
    assert.deepEqual(errors, [], "no script errors");
  },
  { timeout: 90_000 },
);

dbTest(
  "with a token, the dashboard first asks to sign in, then loads, and its cookie can cancel",
  async ({ connect, admin, schema, defer }) => {
    const client = await connect();
    const emails = await client.createQueue<{ to: string }>("emails");
    const id = await emails.send({ to: "ada@example.com" });
    const server = await startServer(client, { port: 0, token: "secret" });
    defer(() => server.close(1000));
    const browser = await launch(defer);
    const { page, requests } = await openPage(browser);

    const response = await page.goto(server.url);
    assert.equal(response?.status(), 401);
    await page.getByPlaceholder("token").fill("secret");
    await page.getByRole("button", { name: "Sign in" }).click();
    await seen(count(page, "emails", "queued").filter({ hasText: /^1$/ }), "emails after sign-in");
    await seen(page.locator('#stream-status[data-status="live"]'), "the event stream to be live");

    // A change sent with the cookie (and the dashboard's header) is accepted.
    await page.locator(`#job-rows tr[data-job-id="${id}"] button`).click();
    const dialog = await seen(page.locator("#job-dialog[open]"), "the job dialog to open");
    await dialog.getByRole("button", { name: "Cancel job" }).click();
    await seen(dialog.locator('dl.facts[data-state="cancelled"]'), "the detail to say cancelled");
    assert.equal(await jobState(admin, schema, id), "cancelled");
    await dialog.getByRole("button", { name: "Close" }).click();

    // Without the cookie the next call gets 401, and the page says to sign in again.
    await page.context().clearCookies();
    await page.getByRole("button", { name: "Refresh" }).click();
    await seen(page.locator("#signed-out"), "the sign-in banner after a 401");

    assertSameOrigin(requests, server.url);
  },
);
