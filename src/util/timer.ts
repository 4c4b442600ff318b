/** The longest delay `setTimeout` honours; longer ones fire after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `setTimeout` that never keeps the process alive and never overflows: a delay past
 * {@link MAX_TIMER_MS} fires at that limit, and the caller looks again then.
 */
export function unrefTimer(callback: () => void, delayMs: number): NodeJS.Timeout {
  const timer = setTimeout(callback, Math.min(Math.max(0, delayMs), MAX_TIMER_MS));
  timer.unref();
  return timer;
}

/**
 * A signal that aborts with a `TimeoutError` after `delayMs`, without keeping the process alive.
 * Not `AbortSignal.timeout`: Node holds that signal only weakly, so once combined with
 * `AbortSignal.any` a garbage collection can take it before it fires, and it never does (Node 20:
 * an HTTP `?wait=1s` that never answered, in the suite). This timer holds its controller.
 */
export function timeoutSignal(delayMs: number): AbortSignal {
  const controller = new AbortController();
  unrefTimer(
    () => controller.abort(new DOMException("The operation timed out.", "TimeoutError")),
    delayMs,
  );
  return controller.signal;
}

/**
 * Waits for `promise`, but at most `delayMs`: resolves with its value, or undefined once the time
 * is up, and leaves no timer behind. `unref`: the wait alone does not keep the process alive.
 */
export async function atMost<T>(
  promise: Promise<T>,
  delayMs: number,
  { unref = false }: { unref?: boolean } = {},
): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) => {
        timer = unref
          ? unrefTimer(() => resolve(undefined), delayMs)
          : setTimeout(resolve, Math.min(Math.max(0, delayMs), MAX_TIMER_MS), undefined);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
