// Logging for guest-triggered conditions. Everything logged here can be provoked by the guest at
// will (an unknown hypercall in a loop), so the log is rate-limited: a hostile guest must not be
// able to fill the disk or starve the shim of CPU through it.
//
// Policy: each distinct key (e.g. "unknown hypercall 99") logs its first occurrence; repeats of a
// key are counted and summarised once per interval; and all keys together spend from one token
// bucket, so even a guest that varies the key (sub-op numbers) gets at most `burst` lines at once
// and `perInterval` lines per interval after that.

export interface HypervisorLog {
  warn(message: string): void;
}

/** Writes to stderr with a prefix; the default sink. */
export const consoleLog: HypervisorLog = {
  warn(message: string): void {
    process.stderr.write(`xlts/xen: ${message}\n`);
  },
};

export interface RateLimitOptions {
  /** Lines allowed at once. */
  readonly burst?: number;
  /** Lines regained per interval. */
  readonly perInterval?: number;
  readonly intervalMs?: number;
  /** Most keys remembered; beyond it the oldest are forgotten (bounded memory per guest). */
  readonly maxKeys?: number;
  readonly now?: () => number;
}

interface KeyState {
  lastLogged: number;
  suppressed: number;
}

export class RateLimitedLog {
  private readonly burst: number;
  private readonly perInterval: number;
  private readonly intervalMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private tokens: number;
  private refilledAt: number;
  private readonly keys = new Map<string, KeyState>();
  /** Lines dropped because the bucket was empty; reported with the next line that gets through. */
  private droppedByBucket = 0;

  constructor(
    private readonly sink: HypervisorLog,
    options: RateLimitOptions = {},
  ) {
    this.burst = options.burst ?? 20;
    this.perInterval = options.perInterval ?? 5;
    this.intervalMs = options.intervalMs ?? 10_000;
    this.maxKeys = options.maxKeys ?? 256;
    this.now = options.now ?? Date.now;
    this.tokens = this.burst;
    this.refilledAt = this.now();
  }

  /** Logs `message` under `key` if the key and the bucket allow; returns whether it was written. */
  warn(key: string, message: string): boolean {
    const t = this.now();
    this.refill(t);
    const state = this.keys.get(key);
    if (state && t - state.lastLogged < this.intervalMs) {
      state.suppressed++;
      return false;
    }
    if (this.tokens < 1) {
      this.droppedByBucket++;
      return false;
    }
    this.tokens--;
    let line = message;
    if (state && state.suppressed > 0) line += ` (repeated ${state.suppressed} times since last report)`;
    if (this.droppedByBucket > 0) {
      line += ` (${this.droppedByBucket} other lines dropped by the rate limit)`;
      this.droppedByBucket = 0;
    }
    this.remember(key, { lastLogged: t, suppressed: 0 });
    this.sink.warn(line);
    return true;
  }

  private refill(t: number): void {
    const intervals = Math.floor((t - this.refilledAt) / this.intervalMs);
    if (intervals <= 0) return;
    this.tokens = Math.min(this.burst, this.tokens + intervals * this.perInterval);
    this.refilledAt += intervals * this.intervalMs;
  }

  private remember(key: string, state: KeyState): void {
    this.keys.delete(key);
    this.keys.set(key, state);
    if (this.keys.size > this.maxKeys) {
      const oldest = this.keys.keys().next();
      if (!oldest.done) this.keys.delete(oldest.value);
    }
  }
}
