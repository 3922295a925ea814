/**
 * A heartbeat: pings a peer on an interval and reports it silent when a ping goes
 * unanswered for the timeout.
 *
 * @module
 */

/** Options for {@linkcode Heartbeat}. */
export interface HeartbeatOptions {
  /** Sends one ping; resolves when the peer answers it (a rejection counts as no answer). */
  ping(): Promise<unknown>;
  /** How long one ping may go unanswered. */
  timeoutMs: number;
  /** How often to ping while the last ping was answered; default 1 s, or less for short timeouts. */
  intervalMs?: number;
  /** Called once, when a ping went unanswered for `timeoutMs`; the heartbeat has stopped. */
  onSilent(silentMs: number): void;
}

/**
 * Pings while answers come, at most one ping outstanding. A peer that stops (SIGSTOP, a
 * deadlock, a loop that never yields) is reported between `timeoutMs` and
 * `timeoutMs + intervalMs` after it stopped.
 */
export class Heartbeat implements Disposable {
  #options: HeartbeatOptions;
  #interval: ReturnType<typeof setInterval>;
  #deadline: ReturnType<typeof setTimeout> | undefined;
  /** The ping outstanding, by when it was sent. */
  #sentAt: number | undefined;
  #stopped = false;

  /** Starts pinging at once. */
  constructor(options: HeartbeatOptions) {
    this.#options = options;
    const intervalMs = options.intervalMs ?? Math.min(1000, options.timeoutMs / 2);
    this.#interval = setInterval(() => this.#beat(), intervalMs);
  }

  /** Stops pinging; no verdict follows. */
  stop(): void {
    this.#stopped = true;
    clearInterval(this.#interval);
    clearTimeout(this.#deadline);
  }

  /** Same as {@linkcode stop}. */
  [Symbol.dispose](): void {
    this.stop();
  }

  #beat(): void {
    if (this.#sentAt !== undefined || this.#stopped) return;
    const sentAt = performance.now();
    this.#sentAt = sentAt;
    this.#deadline = setTimeout(() => {
      if (this.#stopped || this.#sentAt !== sentAt) return;
      this.stop();
      this.#options.onSilent(performance.now() - sentAt);
    }, this.#options.timeoutMs);
    this.#options.ping().then(() => {
      if (this.#sentAt !== sentAt) return;
      this.#sentAt = undefined;
      clearTimeout(this.#deadline);
    }, () => {});
  }
}
