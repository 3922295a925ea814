/**
 * A message channel over one stream connection, using length-prefixed frames.
 *
 * @module
 */
import { FrameReader, HEADER_BYTES, writeHeader } from "./_frame.ts";

/**
 * What a channel carries: JSON objects told apart by their `t` field. Each link declares
 * its own union of them (ipc/_messages.ts, executors' host protocol).
 */
export interface IpcMessage {
  t: string;
}

/** Options for {@linkcode IpcChannel}: `In` is the union of messages the peer sends. */
export interface IpcChannelOptions<In extends IpcMessage> {
  /** The largest payload accepted or sent; a larger incoming frame closes the channel. */
  maxFrameBytes: number;
  /**
   * Called for every message, in order. The channel checks only that it is an object
   * with a string `t`; the peer is the agent's own code, built from the same source.
   */
  onMessage(message: In, body: Uint8Array | undefined): void;
  /** Closes the channel when aborted. */
  signal?: AbortSignal;
}

const READ_BUFFER_BYTES = 256 * 1024;
/** Frames smaller than this are copied into one batch buffer; larger ones go out as is. */
const BATCH_COPY_LIMIT = 64 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function isMessage(value: unknown): value is IpcMessage {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    typeof (value as { t?: unknown }).t === "string";
}

/**
 * Sends and receives framed JSON messages over a connection it owns.
 *
 * `send` never blocks: frames queue and go out together in one write per turn of the
 * event loop, which keeps many small callbacks cheap.
 */
export class IpcChannel<In extends IpcMessage, Out extends IpcMessage> {
  #conn: Deno.Conn;
  #max: number;
  #onMessage: IpcChannelOptions<In>["onMessage"];
  /** Frames waiting to be written, each as its parts (header, then body if any). */
  #queue: Uint8Array[][] = [];
  /** Urgent frames: written before any queued frame not yet started. */
  #urgent: Uint8Array[][] = [];
  #writing = false;
  #closed = false;
  #done: Promise<void>;
  #error: Error | undefined;

  /** Starts reading `conn` at once; the channel owns and closes it. */
  constructor(conn: Deno.Conn, options: IpcChannelOptions<In>) {
    this.#conn = conn;
    this.#max = options.maxFrameBytes;
    this.#onMessage = options.onMessage;
    options.signal?.addEventListener("abort", () => this.close(), { once: true });
    this.#done = this.#readLoop();
  }

  /** Resolves when the peer has gone or the channel was closed; never rejects. */
  get closed(): Promise<void> {
    return this.#done;
  }

  /** Why the channel closed, when it closed on an error rather than a clean end. */
  get error(): Error | undefined {
    return this.#error;
  }

  /** Whether `send` still delivers. */
  get isOpen(): boolean {
    return !this.#closed;
  }

  /**
   * Queues one message, and optional body bytes that go out as they are.
   *
   * An `urgent` message overtakes queued messages that have not started to go out; a
   * frame already being written always completes first. Use it for messages whose order
   * relative to the queue does not matter (a robot command behind a bulk upload).
   *
   * @throws {RangeError} when the encoded frame would exceed the frame limit.
   * Messages sent after close are dropped: the reader of `closed` handles loss.
   */
  send(message: Out, body?: Uint8Array, options: { urgent?: boolean } = {}): void {
    if (this.#closed) return;
    const json = encoder.encode(JSON.stringify(message));
    const bodyBytes = body?.length ?? 0;
    const length = HEADER_BYTES + json.length + bodyBytes;
    if (length > this.#max) {
      throw new RangeError(
        `Cannot send message: ${length} bytes exceed the frame limit of ${this.#max} bytes`,
      );
    }
    const head = new Uint8Array(2 * HEADER_BYTES + json.length);
    writeHeader(head, 0, length);
    writeHeader(head, HEADER_BYTES, json.length);
    head.set(json, 2 * HEADER_BYTES);
    const frame = body && bodyBytes > 0 ? [head, body] : [head];
    (options.urgent ? this.#urgent : this.#queue).push(frame);
    if (!this.#writing) {
      this.#writing = true;
      queueMicrotask(() => this.#writeLoop());
    }
  }

  /** Closes the connection; queued frames not yet written are dropped. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer's end of stream: nothing left to release.
    }
  }

  async #writeLoop(): Promise<void> {
    try {
      while ((this.#urgent.length > 0 || this.#queue.length > 0) && !this.#closed) {
        for (const part of this.#takeBatch(this.#urgent.length > 0 ? this.#urgent : this.#queue)) {
          let written = 0;
          while (written < part.length) {
            written += await this.#conn.write(part.subarray(written));
          }
        }
      }
    } catch (error) {
      this.#fail(error);
    } finally {
      this.#writing = false;
    }
  }

  /**
   * Takes whole frames off a queue: one large frame's parts as they are, or small frames
   * (one or several, with or without a body) copied into one buffer so they go out in one
   * system call.
   */
  #takeBatch(queue: Uint8Array[][]): Uint8Array[] {
    const size = (frame: Uint8Array[]) => frame.reduce((total, part) => total + part.length, 0);
    const first = queue[0];
    if ((queue.length === 1 && first.length === 1) || size(first) >= BATCH_COPY_LIMIT) {
      return queue.shift()!;
    }
    let count = 0;
    let total = 0;
    for (const frame of queue) {
      const bytes = size(frame);
      if (total + bytes > BATCH_COPY_LIMIT && count > 0) break;
      total += bytes;
      count++;
    }
    const batch = new Uint8Array(total);
    let at = 0;
    for (const frame of queue.splice(0, count)) {
      for (const part of frame) {
        batch.set(part, at);
        at += part.length;
      }
    }
    return [batch];
  }

  async #readLoop(): Promise<void> {
    const reader = new FrameReader(this.#max);
    const buffer = new Uint8Array(READ_BUFFER_BYTES);
    try {
      while (!this.#closed) {
        const n = await this.#conn.read(buffer);
        if (n === null) break;
        for (const payload of reader.push(buffer.subarray(0, n))) {
          this.#dispatch(payload, payload.buffer === buffer.buffer);
          if (this.#closed) break;
        }
      }
    } catch (error) {
      if (!this.#closed) this.#fail(error);
    } finally {
      this.close();
    }
  }

  #dispatch(payload: Uint8Array, borrowed: boolean): void {
    let body: Uint8Array | undefined;
    const jsonLength = payload.length >= HEADER_BYTES
      ? ((payload[0] << 24) >>> 0) + (payload[1] << 16) + (payload[2] << 8) + payload[3]
      : -1;
    if (jsonLength < 0 || HEADER_BYTES + jsonLength > payload.length) {
      throw new SyntaxError("Cannot decode frame: JSON length exceeds the frame");
    }
    const message: unknown = JSON.parse(
      decoder.decode(payload.subarray(HEADER_BYTES, HEADER_BYTES + jsonLength)),
    );
    if (payload.length > HEADER_BYTES + jsonLength) {
      const view = payload.subarray(HEADER_BYTES + jsonLength);
      // A view of the shared read buffer would change under the receiver: copy it.
      body = borrowed ? view.slice() : view;
    }
    if (!isMessage(message)) {
      throw new SyntaxError("Cannot decode frame: the payload is not an object with a string t");
    }
    this.#onMessage(message as In, body);
  }

  #fail(error: unknown): void {
    this.#error ??= error instanceof Error ? error : new Error(String(error));
    this.close();
  }
}
