/**
 * The safety stop as the gateway runs it: when the controller goes (disconnect, takeover,
 * shutdown), the worker runs the project's stop hooks and `safety.on_disconnect`.
 *
 * @module
 */
import { logger } from "../log.ts";
import type { WorkerLink } from "./_link.ts";

const log = logger("gateway", "safety");

/** Runs safety stops and knows when the last one is over. */
export class SafetyStops {
  #link: WorkerLink;
  #running: Promise<void> = Promise.resolve();

  /** Creates the runner over a worker link. */
  constructor(link: WorkerLink) {
    this.#link = link;
  }

  /** Resolves when every safety stop started so far is over. */
  get settled(): Promise<void> {
    return this.#running;
  }

  /** Runs one; resolves when it is over (it never rejects). */
  run(why: string): Promise<void> {
    log.info("Running the safety stop ({why})", { why });
    const began = performance.now();
    const done = this.#link.request("safety_stop", { reason: why }).then((res) => {
      const ms = Math.round((performance.now() - began) * 10) / 10;
      if (res.ok) log.info("Safety stop done in {ms} ms", { ms, ran: res.data });
      else log.warn("Safety stop failed after {ms} ms: {message}", { ms, message: res.message });
    });
    this.#running = Promise.all([this.#running, done]).then(() => {});
    return done;
  }
}
