/**
 * The slow safety net under NOTIFY: every `intervalMs` (±10%, so a fleet does not poll in step)
 * it runs `check`, which re-reads whatever this process waits on. Notifications do the real work;
 * this only bounds how long a lost one (a dropped connection nobody noticed) can delay anything.
 * With nothing to check, `check` sends no query.
 */
export class SafetyPoll {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly intervalMs: number | null,
    private readonly check: () => void,
  ) {}

  start(): void {
    if (this.intervalMs === null) return;
    const delay = this.intervalMs * (0.9 + Math.random() * 0.2);
    this.timer = setTimeout(() => {
      this.check();
      this.start();
    }, delay);
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
