import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { timeoutSignal } from "../../src/util/timer.js";

test("a timeout signal combined with AbortSignal.any still fires after a garbage collection", async () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const never = new AbortController();
  const fired = new Promise<unknown>((resolve) => {
    // Only the combined signal's listener refers to anything here, as in `?wait=`.
    AbortSignal.any([never.signal, timeoutSignal(50)]).addEventListener(
      "abort",
      (event) => resolve((event.target as AbortSignal).reason),
      { once: true },
    );
  });
  await new Promise((resolve) => setImmediate(resolve)); // nothing on the stack refers to it
  gc();
  // The timer does not keep the process alive (by design); the test must, while it waits.
  const keepAlive = setTimeout(() => undefined, 10_000);
  const reason = await fired;
  clearTimeout(keepAlive);
  assert.ok(reason instanceof DOMException && reason.name === "TimeoutError", String(reason));
});
