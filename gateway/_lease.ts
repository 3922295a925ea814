/**
 * The control lease: one controller at a time. A second operator is refused `BUSY`
 * unless it asks to take over; then the safety stop runs first, the old controller is
 * closed with {@linkcode CLOSE_TAKEN_OVER} and the new holder's name, and the slot is
 * handed over.
 *
 * @module
 */
import { logger } from "../log.ts";
import type { Clients, Connection } from "./_clients.ts";
import type { SafetyStops } from "./_safety.ts";

const log = logger("gateway", "lease");

/** Close code for a controller whose slot another operator took over. */
export const CLOSE_TAKEN_OVER = 4003;

/** Hands the controller's slot over. */
export class Lease {
  #clients: Clients;
  #safety: SafetyStops;
  /** Takeovers run one at a time: two at once must not both stop and seat. */
  #queue: Promise<unknown> = Promise.resolve();

  /** Creates the lease over the client slot and the safety stop. */
  constructor(clients: Clients, safety: SafetyStops) {
    this.#clients = clients;
    this.#safety = safety;
  }

  /**
   * Makes `connection` the controller: at once if the slot is free, else after the
   * safety stop, closing the old controller. Resolves false if `connection` went away
   * meanwhile.
   */
  takeOver(connection: Connection): Promise<boolean> {
    const run = this.#queue.then(() => this.#takeOver(connection));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #takeOver(connection: Connection): Promise<boolean> {
    const old = this.#clients.controller;
    if (old === connection) return true;
    const name = connection.identity.name;
    if (old) {
      log.info("{name} takes over from {old}", { name, old: old.identity.name });
      await this.#safety.run(`taken over by ${name}`);
      const unseated = this.#clients.unseat(`taken over by ${name}`);
      try {
        unseated?.socket.close(CLOSE_TAKEN_OVER, `taken over by ${name}`.slice(0, 120));
      } catch {
        // Already closing.
      }
    }
    if (connection.gone) return false;
    if (connection.role === "observer") this.#clients.detachObserver(connection);
    return this.#clients.attach(connection, { takeover: true });
  }
}
