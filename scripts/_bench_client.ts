/**
 * The benchmark's WebSocket client: timestamps every message as it arrives and matches
 * replies and callbacks by id, without the queueing of the tests' client.
 *
 * @module
 */
import type { Message } from "../tests/_agent.ts";

type Handler = (message: Message, at: number) => void;

/**
 * A PROCESS call as the client saw it, with arrival times (performance.now()). `lost`
 * means no callback (or no ACK) came in time.
 */
export interface CallResult {
  sent: number;
  ack?: Message;
  ackAt: number;
  callback?: Message;
  callbackAt: number;
  lost: boolean;
}

export class BenchClient {
  readonly socket: WebSocket;
  /** Messages no one waited for (a second callback, a reply to nothing): always a bug. */
  readonly stray: Message[] = [];
  #replies = new Map<number, Handler>();
  #callbacks = new Map<number, Handler>();
  /** Waiters for replies without an id (a binary UPDATE's), in order. */
  #anonymous: Handler[] = [];
  #events = new Map<string, Handler>();
  /** Calls in flight: what resolves each as lost. */
  #calls = new Map<number, () => void>();
  #nextId = 1;
  #closed = Promise.withResolvers<void>();

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.onmessage = (event) => {
      const at = performance.now();
      const message = JSON.parse(event.data as string) as Message;
      let handler: Handler | undefined;
      if (message.event !== undefined) {
        this.#events.get(message.event)?.(message, at);
        return;
      } else if (message.status === "callback") {
        handler = this.#callbacks.get(message.id);
        this.#callbacks.delete(message.id);
      } else if (message.id === undefined) {
        handler = this.#anonymous.shift();
      } else {
        handler = this.#replies.get(message.id);
        this.#replies.delete(message.id);
      }
      if (handler) handler(message, at);
      else this.stray.push(message);
    };
    socket.onclose = () => this.#closed.resolve();
    socket.onerror = () => {};
  }

  static open(url: string): Promise<BenchClient> {
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    return new Promise((resolve, reject) => {
      socket.onopen = () => resolve(new BenchClient(socket));
      socket.onerror = (event) =>
        reject(new Error(`Cannot connect to ${url}: ${(event as ErrorEvent).message}`));
    });
  }

  newId(): number {
    return this.#nextId++;
  }

  /** Calls `handler` for every event named `name` until the returned function is called. */
  onEvent(name: string, handler: Handler): () => void {
    this.#events.set(name, handler);
    return () => this.#events.delete(name);
  }

  /** Calls `handler` for the next reply with `id`, with no timer; see {@linkcode forget}. */
  expect(id: number, handler: Handler): void {
    this.#replies.set(id, handler);
  }

  /** Stops waiting for replies to `ids` (binary chunks that succeed get none). */
  forget(ids: number[]): void {
    for (const id of ids) this.#replies.delete(id);
  }

  /** The next reply with `id` (or, for `undefined`, the next reply without an id). */
  reply(id: number | undefined, timeoutMs = 60_000): Promise<Message> {
    const { promise, resolve, reject } = Promise.withResolvers<Message>();
    const done: Handler = (message) => {
      clearTimeout(timer);
      resolve(message);
    };
    const timer = setTimeout(() => {
      if (id === undefined) this.#anonymous = this.#anonymous.filter((h) => h !== done);
      else this.#replies.delete(id);
      reject(new Error(`No reply ${id ?? "(without id)"} within ${timeoutMs} ms`));
    }, timeoutMs);
    if (id === undefined) this.#anonymous.push(done);
    else this.#replies.set(id, done);
    return promise;
  }

  /** Sends a command with a fresh id and waits for its reply. */
  request(message: Message, timeoutMs?: number): Promise<Message> {
    const id = this.newId();
    const reply = this.reply(id, timeoutMs);
    this.socket.send(JSON.stringify({ ...message, id }));
    return reply;
  }

  /**
   * Sends PROCESS; resolves on the callback, on an error ACK, or as lost after
   * `timeoutMs`. With `timeoutMs` 0 there is no timer: see {@linkcode abandonCalls}.
   */
  call(
    object: string,
    method: string,
    args: Record<string, unknown> = {},
    timeoutMs = 5_000,
  ): Promise<CallResult> {
    const id = this.newId();
    const { promise, resolve } = Promise.withResolvers<CallResult>();
    const result: CallResult = { sent: 0, ackAt: 0, callbackAt: 0, lost: false };
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = () => {
      clearTimeout(timer);
      this.#replies.delete(id);
      this.#callbacks.delete(id);
      this.#calls.delete(id);
      resolve(result);
    };
    const lose = () => {
      result.lost = true;
      finish();
    };
    this.#replies.set(id, (message, at) => {
      result.ack = message;
      result.ackAt = at;
      if (result.callback || message.status !== "success") finish();
    });
    this.#callbacks.set(id, (message, at) => {
      result.callback = message;
      result.callbackAt = at;
      if (result.ack) finish();
    });
    this.#calls.set(id, lose);
    if (timeoutMs > 0) timer = setTimeout(lose, timeoutMs);
    result.sent = performance.now();
    this.socket.send(JSON.stringify({ command: "process", id, params: { object, method, args } }));
    return promise;
  }

  /** Resolves every call still waiting as lost. */
  abandonCalls(): void {
    for (const lose of [...this.#calls.values()]) lose();
  }

  async close(): Promise<void> {
    if (this.socket.readyState < WebSocket.CLOSING) this.socket.close();
    await this.#closed.promise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

// ---------------------------------------------------------------------------------------
// Memory of the agent's processes
