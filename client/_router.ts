/**
 * Which waiter a message from the agent is for: replies by id (in order, so one id may
 * have several), callbacks by call id.
 *
 * @module
 */
import type { ClientId, ServerMessage } from "./_types.ts";

interface Waiter {
  resolve(message: ServerMessage): void;
  reject(error: unknown): void;
}

/** The waiters for replies and callbacks of one client. */
export class ReplyRouter {
  #replies = new Map<ClientId, Waiter[]>();
  #callbacks = new Map<ClientId, Waiter>();
  #failure: unknown;
  #failed = false;

  /**
   * Resolves with the next reply (not a callback) under `id`; rejects when `signal`
   * aborts or the router fails. Registered at once: waiters for one id are served in the
   * order they were made.
   */
  reply(id: ClientId, signal?: AbortSignal): Promise<ServerMessage> {
    return this.#wait(signal, (waiter) => {
      const queue = this.#replies.get(id) ?? [];
      this.#replies.set(id, queue);
      queue.push(waiter);
      return () => {
        const at = queue.indexOf(waiter);
        if (at >= 0) queue.splice(at, 1);
        if (queue.length === 0 && this.#replies.get(id) === queue) this.#replies.delete(id);
      };
    });
  }

  /** Resolves with the callback of call `id`. */
  callback(id: ClientId, signal?: AbortSignal): Promise<ServerMessage> {
    return this.#wait(signal, (waiter) => {
      this.#callbacks.set(id, waiter);
      return () => {
        if (this.#callbacks.get(id) === waiter) this.#callbacks.delete(id);
      };
    });
  }

  /** Hands a reply or callback to its waiter; false when nobody waits for it. */
  route(message: ServerMessage): boolean {
    if (message.id === undefined) return false;
    const waiter = message.status === "callback"
      ? this.#callbacks.get(message.id)
      : this.#replies.get(message.id)?.[0];
    waiter?.resolve(message);
    return waiter !== undefined;
  }

  /** Rejects every waiter, and every later one, with `error`. */
  fail(error: unknown): void {
    this.#failed = true;
    this.#failure = error;
    const waiters = [...this.#callbacks.values(), ...[...this.#replies.values()].flat()];
    this.#callbacks.clear();
    this.#replies.clear();
    for (const waiter of waiters) waiter.reject(error);
  }

  #wait(
    signal: AbortSignal | undefined,
    register: (waiter: Waiter) => () => void,
  ): Promise<ServerMessage> {
    if (this.#failed) return Promise.reject(this.#failure);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const { promise, resolve, reject } = Promise.withResolvers<ServerMessage>();
    const settle = (fn: () => void) => {
      remove();
      signal?.removeEventListener("abort", onAbort);
      fn();
    };
    const waiter: Waiter = {
      resolve: (message) => settle(() => resolve(message)),
      reject: (error) => settle(() => reject(error)),
    };
    const onAbort = () => waiter.reject(signal?.reason);
    const remove = register(waiter);
    signal?.addEventListener("abort", onAbort, { once: true });
    return promise;
  }
}
