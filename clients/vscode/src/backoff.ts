/**
 * Delays before restarting a crashed server: 1 s, 2 s, 4 s ... capped, back to the start once
 * the server has stayed up for a while.
 */
export class RestartBackoff {
  private attempts = 0;
  private startedAt: number;

  constructor(
    private readonly baseMs = 1000,
    private readonly maxMs = 60_000,
    private readonly stableMs = 180_000,
    private readonly now: () => number = Date.now,
  ) {
    this.startedAt = now();
  }

  /** Call when the server (re)starts. */
  started(): void {
    this.startedAt = this.now();
  }

  /** Call when the server died; returns how long to wait before restarting it. */
  crashed(): number {
    if (this.now() - this.startedAt >= this.stableMs) {
      this.attempts = 0;
    }
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** this.attempts);
    this.attempts += 1;
    return delay;
  }

  /** Forget past crashes (a restart the user asked for). */
  reset(): void {
    this.attempts = 0;
  }
}
