/**
 * What a {@linkcode RobotClient} dispatches: the agent's events, and its own connection's
 * changes.
 *
 * @module
 */

/**
 * An event from the agent (`{"status": "callback", "event": NAME, "data": DATA}`): a
 * project's `push_message(NAME, DATA)`, `upload_progress`, `project_exited`, …
 * Dispatched with the type `"event"`.
 */
export class RobotEvent extends Event {
  /** The event's name. */
  readonly name: string;
  /** The event's data. */
  readonly data: unknown;

  /** Creates the event. */
  constructor(name: string, data: unknown) {
    super("event");
    this.name = name;
    this.data = data;
  }
}

/**
 * A change of the connection: `"disconnect"` (the link dropped; reconnecting),
 * `"reconnect"` (resumed), `"close"` (for good; `error` says why unless closed by the
 * client).
 */
export class ConnectionEvent extends Event {
  /** Why, for `"disconnect"` and `"close"`. */
  readonly error: Error | undefined;

  /** Creates the event. */
  constructor(type: "disconnect" | "reconnect" | "close", error?: Error) {
    super(type);
    this.error = error;
  }
}

/** Options for {@linkcode iterateEvents}. */
export interface EventIteratorOptions {
  /** Only events with one of these names. */
  names?: readonly string[];
  /** Ends the iteration when aborted. */
  signal?: AbortSignal;
  /** Most events kept while the consumer is behind; older ones are dropped (10,000). */
  maxQueued?: number;
}

/**
 * The events `target` dispatches from the moment this is called (not from the first
 * `next()`), as an async iterator that ends when the signal aborts, the target dispatches
 * `"close"`, or `return()` is called (a `for await` loop's `break` calls it).
 */
export function iterateEvents(
  target: EventTarget,
  options: EventIteratorOptions = {},
): AsyncIterableIterator<RobotEvent> {
  return new EventStream(target, options);
}

class EventStream implements AsyncIterableIterator<RobotEvent> {
  #target: EventTarget;
  #options: EventIteratorOptions;
  #queue: RobotEvent[] = [];
  #ended = false;
  #wake: (() => void) | undefined;
  #onEvent = (event: Event) => {
    const names = this.#options.names;
    if (!(event instanceof RobotEvent) || (names && !names.includes(event.name))) return;
    this.#queue.push(event);
    if (this.#queue.length > (this.#options.maxQueued ?? 10_000)) this.#queue.shift();
    this.#wake?.();
  };
  #onEnd = () => {
    this.#stop();
    this.#wake?.();
  };

  constructor(target: EventTarget, options: EventIteratorOptions) {
    this.#target = target;
    this.#options = options;
    target.addEventListener("event", this.#onEvent);
    target.addEventListener("close", this.#onEnd);
    options.signal?.addEventListener("abort", this.#onEnd);
    if (options.signal?.aborted) this.#stop();
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<RobotEvent> {
    return this;
  }

  async next(): Promise<IteratorResult<RobotEvent, undefined>> {
    while (true) {
      const event = this.#queue.shift();
      if (event) return { value: event, done: false };
      if (this.#ended) return { value: undefined, done: true };
      await new Promise<void>((resolve) => this.#wake = resolve);
      this.#wake = undefined;
    }
  }

  return(): Promise<IteratorResult<RobotEvent, undefined>> {
    this.#stop();
    this.#queue = [];
    this.#wake?.();
    return Promise.resolve({ value: undefined, done: true });
  }

  #stop(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#target.removeEventListener("event", this.#onEvent);
    this.#target.removeEventListener("close", this.#onEnd);
    this.#options.signal?.removeEventListener("abort", this.#onEnd);
  }
}
