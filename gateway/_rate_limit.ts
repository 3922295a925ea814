/**
 * Failed handshakes per client address: past a number within a window, the address is
 * refused for a while without its token even being checked.
 *
 * @module
 */

/** Options for {@linkcode FailureLimiter}. */
export interface FailureLimiterOptions {
  maxFailures: number;
  windowMs: number;
  blockMs: number;
  /** The clock (tests pass their own). */
  now?: () => number;
}

interface Record {
  failures: number[];
  blockedUntil: number;
}

/** Addresses remembered at most; the oldest are forgotten past it (a flood of addresses). */
const MAX_ADDRESSES = 10_000;

/** Counts failures per address and says which addresses are blocked. */
export class FailureLimiter {
  #options: Required<FailureLimiterOptions>;
  #records = new Map<string, Record>();

  /** Creates an empty limiter. */
  constructor(options: FailureLimiterOptions) {
    this.#options = { now: Date.now, ...options };
  }

  /** Milliseconds the address stays blocked; 0 when it is not. */
  blockedFor(address: string): number {
    const record = this.#records.get(address);
    return record ? Math.max(0, record.blockedUntil - this.#options.now()) : 0;
  }

  /** Records a failure; returns true when it is the one that blocks the address. */
  fail(address: string): boolean {
    const now = this.#options.now();
    const record = this.#records.get(address) ?? { failures: [], blockedUntil: 0 };
    this.#records.delete(address);
    this.#records.set(address, record);
    record.failures = record.failures.filter((at) => now - at < this.#options.windowMs);
    record.failures.push(now);
    if (this.#records.size > MAX_ADDRESSES) {
      this.#records.delete(this.#records.keys().next().value!);
    }
    if (record.failures.length < this.#options.maxFailures) return false;
    record.failures = [];
    record.blockedUntil = now + this.#options.blockMs;
    return true;
  }
}
