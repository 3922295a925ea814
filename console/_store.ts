/**
 * A value the views watch: {@linkcode Store} holds it, {@linkcode useStore} re-renders a
 * component when it changes.
 *
 * @module
 */
import { useEffect, useState } from "preact/hooks";

/** An observable value, replaced (never mutated) on each change. */
export class Store<T> {
  #value: T;
  #listeners = new Set<() => void>();

  /** Holds `value` until the first change. */
  constructor(value: T) {
    this.#value = value;
  }

  /** The current value. */
  get value(): T {
    return this.#value;
  }

  /** Replaces the value with `patch` merged in, and tells every watcher. */
  set(patch: Partial<T>): void {
    this.#value = { ...this.#value, ...patch };
    for (const listener of this.#listeners) listener();
  }

  /** Calls `listener` after each change; returns the unsubscribe. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** The store's value, re-rendering the calling component whenever it changes. */
export function useStore<T>(store: Store<T>): T {
  const [, setTick] = useState(0);
  useEffect(() => store.subscribe(() => setTick((tick) => tick + 1)), [store]);
  return store.value;
}

/** Calls `tick` every `ms` while the component is shown (and once at once). */
export function useInterval(tick: () => void, ms: number, active = true): void {
  useEffect(() => {
    if (!active) return;
    tick();
    const timer = setInterval(tick, ms);
    return () => clearInterval(timer);
  }, [active, ms]);
}
