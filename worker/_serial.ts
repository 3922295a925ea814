/**
 * The worker's one-at-a-time queue for work that changes the project (UPDATE, START,
 * rollback, the restart of an exited project). Calls and the safety stop never wait in
 * it; calls wait only for the starts under way, to reach the project they start.
 *
 * @module
 */

/** Runs work one piece after another, in call order, whatever each awaits. */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();
  #switches = 0;
  #switched: Promise<void> = Promise.resolve();

  /** Runs `work` once everything queued before it has settled. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(work);
    this.#tail = result.catch(() => {});
    return result;
  }

  /**
   * Runs a switch of the running project (a START or rollback) in the queue; calls that
   * arrive meanwhile wait for {@linkcode switching} and then go to the project it
   * started, so a client may send start and its first calls without waiting for the reply.
   */
  runSwitch<T>(work: () => Promise<T>): Promise<T> {
    this.#switches++;
    const done = this.run(work).finally(() => this.#switches--);
    this.#switched = done.then(() => {}, () => {});
    return done;
  }

  /** While switches are queued or running: resolves when the last of them is done. */
  get switching(): Promise<void> | undefined {
    return this.#switches > 0 ? this.#switched : undefined;
  }

  /** Resolves once everything queued so far has settled. */
  idle(): Promise<void> {
    return this.#tail.then(() => {});
  }
}
