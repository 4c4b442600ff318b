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
