import assert from "node:assert/strict";
import { test } from "node:test";
import { Completions, type CompletionSource } from "../../src/completions.js";
import type { OutcomeRow } from "../../src/db/rows.js";

/** A source whose reads the test answers by hand, in order. */
function manualSource(): {
  source: CompletionSource;
  reads: Array<{ ids: string[]; answer: (rows: OutcomeRow[]) => void }>;
  nextRead: () => Promise<{ ids: string[]; answer: (rows: OutcomeRow[]) => void }>;
} {
  const reads: Array<{ ids: string[]; answer: (rows: OutcomeRow[]) => void }> = [];
  let notify: (() => void) | undefined;
  return {
    reads,
    source: {
      outcomes: (ids) =>
        new Promise<OutcomeRow[]>((resolve) => {
          reads.push({ ids, answer: resolve });
          notify?.();
        }),
      transactionStates: async () => new Map(),
    },
    async nextRead() {
      const seen = reads.length;
      while (reads.length === seen) await new Promise<void>((resolve) => (notify = resolve));
      return reads[seen]!;
    },
  };
}

const completed = (id: string, result: number): OutcomeRow => ({
  id,
  queue: "q",
  state: "completed",
  attempt: 1,
  result,
  lastError: null,
});

test("a read taken before the insert committed does not declare the job gone", async () => {
  // The safety poll reads every waiter while a send's insert is in flight; the insert commits
  // and returns (confirm) before that read's answer, which cannot show the row, comes back.
  const { source, nextRead } = manualSource();
  const completions = new Completions(source, (error) => assert.fail(String(error)));
  let settled: string | undefined;
  const promise = completions.expect("q", "job-1").then(
    (result) => (settled = `resolved ${String(result)}`),
    (error: Error) => (settled = `rejected ${error.name}`),
  );
  completions.recheckAll();
  const early = await nextRead();
  completions.confirm("job-1");
  early.answer([]); // its snapshot predates the insert
  // Let the read's answer be handled (a turn for the promise, one for the coalesced re-read).
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(settled, undefined, "the early read neither resolved nor rejected the waiter");
  const again = await nextRead(); // it reads again, rather than guess
  assert.deepEqual(again.ids, ["job-1"]);
  again.answer([completed("job-1", 42)]);
  await promise;
  assert.equal(settled, "resolved 42");
  completions.rejectAll(new Error("closing"));
});

test("a job known to exist before the read, and missing from it, is gone", async () => {
  const { source, nextRead } = manualSource();
  const completions = new Completions(source, (error) => assert.fail(String(error)));
  const waiting = completions.watch("q", "job-2");
  (await nextRead()).answer([]);
  await assert.rejects(waiting, { name: "JobNotFoundError" });
  assert.equal(completions.size, 0);
});
