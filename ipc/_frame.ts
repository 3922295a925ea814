/**
 * Length-prefixed framing: a 4-byte big-endian length, then that many payload bytes.
 *
 * The worker, the gateway and the Python host all speak this framing over Unix sockets.
 *
 * @module
 */

/** Bytes in the length prefix. */
export const HEADER_BYTES = 4;

/** Thrown when a peer announces a frame over the agreed maximum; the stream is unusable after. */
export class FrameTooLargeError extends RangeError {
  /** The announced payload length. */
  readonly length: number;

  /** Creates the error for an announced `length` over `max`. */
  constructor(length: number, max: number) {
    super(`Cannot read frame: length ${length} exceeds the limit of ${max} bytes`);
    this.name = "FrameTooLargeError";
    this.length = length;
  }
}

/** Writes the 4-byte big-endian `length` at `offset` of `target`. */
export function writeHeader(target: Uint8Array, offset: number, length: number): void {
  target[offset] = length >>> 24;
  target[offset + 1] = (length >>> 16) & 0xff;
  target[offset + 2] = (length >>> 8) & 0xff;
  target[offset + 3] = length & 0xff;
}

function readHeader(source: Uint8Array, offset: number): number {
  return ((source[offset] << 24) >>> 0) + (source[offset + 1] << 16) +
    (source[offset + 2] << 8) + source[offset + 3];
}

/** Encodes one payload as a frame (a new array: header then payload). */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  const frame = new Uint8Array(HEADER_BYTES + payload.length);
  writeHeader(frame, 0, payload.length);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

/**
 * Splits a byte stream into frame payloads, however the stream was chunked.
 *
 * Payloads that lie whole inside one pushed chunk are returned as views of it (no copy);
 * a payload that spans chunks is copied once into its own array as it arrives. So a
 * caller may reuse its read buffer, but must copy a view it keeps past the next `push`.
 */
export class FrameReader {
  #max: number;
  /** A header split across chunks. */
  #head = new Uint8Array(HEADER_BYTES);
  #headBytes = 0;
  /** A payload split across chunks, and how much of it has arrived. */
  #frame: Uint8Array | undefined;
  #filled = 0;

  /** Creates a reader that refuses frames longer than `maxFrameBytes`. */
  constructor(maxFrameBytes: number) {
    this.#max = maxFrameBytes;
  }

  /** Bytes received but not yet returned as a complete frame. */
  get buffered(): number {
    return this.#headBytes + this.#filled;
  }

  /**
   * Adds received bytes and returns every payload now complete, in order.
   *
   * @throws {FrameTooLargeError} when a header announces a payload over the limit.
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#frame) {
        const n = Math.min(this.#frame.length - this.#filled, chunk.length - offset);
        this.#frame.set(chunk.subarray(offset, offset + n), this.#filled);
        this.#filled += n;
        offset += n;
        if (this.#filled === this.#frame.length) {
          out.push(this.#frame);
          this.#frame = undefined;
          this.#filled = 0;
        }
      } else if (this.#headBytes > 0) {
        const n = Math.min(HEADER_BYTES - this.#headBytes, chunk.length - offset);
        this.#head.set(chunk.subarray(offset, offset + n), this.#headBytes);
        this.#headBytes += n;
        offset += n;
        if (this.#headBytes === HEADER_BYTES) {
          this.#headBytes = 0;
          this.#begin(readHeader(this.#head, 0), out);
        }
      } else if (chunk.length - offset >= HEADER_BYTES) {
        const length = readHeader(chunk, offset);
        const end = offset + HEADER_BYTES + length;
        if (end <= chunk.length && length <= this.#max) {
          out.push(chunk.subarray(offset + HEADER_BYTES, end));
          offset = end;
        } else {
          offset += HEADER_BYTES;
          this.#begin(length, out);
        }
      } else {
        this.#head.set(chunk.subarray(offset), 0);
        this.#headBytes = chunk.length - offset;
        offset = chunk.length;
      }
    }
    return out;
  }

  #begin(length: number, out: Uint8Array[]): void {
    if (length > this.#max) throw new FrameTooLargeError(length, this.#max);
    if (length === 0) out.push(new Uint8Array(0));
    else this.#frame = new Uint8Array(length);
  }
}
