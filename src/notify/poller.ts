/**
 * Poll mode (`listenUrl: false`): there is no LISTEN connection, so nothing announces new jobs,
 * due times or finished jobs. Every `intervalMs` (±10%, so a fleet does not poll in step) the
 * poller calls `poll`, which does what those notifications would have made happen: consumers
 * claim again, waiting producers retry, delayed jobs are promoted, completions are read.
 *
 * Unlike the safety poll, its timer keeps the process alive while the client is open, as the
 * listener's socket does otherwise: a script awaiting a `completed` handle must not exit early.
 */
export class Poller {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly intervalMs: number,
    private readonly poll: () => void,
  ) {}

  start(): void {
    if (this.stopped) return;
    const delay = this.intervalMs * (0.9 + Math.random() * 0.2);
    this.timer = setTimeout(() => {
      this.poll();
      this.start();
    }, delay);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
