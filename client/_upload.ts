/**
 * The chunked upload of a project zip: `upload_begin`, binary chunks, the deploy's
 * outcome as the second reply to `upload_begin`. It resumes from the offset the agent
 * reports, after a dropped link (the client reconnects) or a stall.
 *
 * @module
 */
import { AgentRequestError } from "./_errors.ts";
import type { RobotEvent } from "./_events.ts";
import type {
  ClientId,
  DeployResult,
  ServerMessage,
  UploadBeginResult,
  UploadProgressEvent,
} from "./_types.ts";

/** What the upload needs of a client (a {@linkcode RobotClient} has it all). */
export interface UploadTransport extends EventTarget {
  nextId(prefix?: string): string;
  request(
    command: "upload_begin",
    params: { size: number; sha256: string },
    options: { id: ClientId; signal?: AbortSignal },
  ): Promise<UploadBeginResult>;
  nextReply(id: ClientId, options: { signal?: AbortSignal }): Promise<ServerMessage>;
  sendBinary(bytes: Uint8Array): void;
  ready(options: { signal?: AbortSignal }): Promise<void>;
}

/** Where an upload stands, for a progress bar. */
export interface UploadProgress {
  /**
   * `"uploading"` as chunks are stored; `"resumed"` when the agent already had
   * `received` bytes; `"interrupted"` when the link dropped (it resumes on reconnect);
   * `"deploying"` once every byte is sent and the agent checks and extracts the zip.
   */
  phase: "uploading" | "resumed" | "interrupted" | "deploying";
  /** Bytes the agent has stored. */
  received: number;
  /** The zip's size. */
  total: number;
  /** The average rate of this upload so far (0 until it can be measured). */
  bytesPerSecond: number;
  /** Seconds left at that rate, when it can be measured. */
  etaSeconds: number | undefined;
}

/** Options for {@linkcode uploadZip}. */
export interface UploadOptions {
  /** Stops the upload when aborted; the part sent stays on the robot for a later resume. */
  signal?: AbortSignal;
  /** Bytes per chunk (1 MiB; at most the agent's `max_chunk_bytes`). */
  chunkBytes?: number;
  /** Chunks sent ahead of the agent's acknowledgements (4). */
  chunksInFlight?: number;
  /** Asks the agent again where the upload stands after this long without progress (30 s). */
  stallMs?: number;
  /** Called as the upload advances. */
  onProgress?(progress: UploadProgress): void;
}

/** The deploy's outcome: the new version, and the upload it came from. */
export type DeployOutcome = DeployResult & { upload_id: string; size: number; complete: true };

/** The four bytes that open a binary upload chunk: "RAC1". */
export const CHUNK_MAGIC: Uint8Array = new Uint8Array([0x52, 0x41, 0x43, 0x31]);

/** Passes (a `upload_begin` and its chunks) tried before giving up. */
const MAX_PASSES = 20;

/** A binary chunk message: "RAC1", a 4-byte big-endian header length, the header, the data. */
export function encodeChunk(
  uploadId: string,
  offset: number,
  data: Uint8Array,
  id?: ClientId,
): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ upload_id: uploadId, offset, id }));
  const out = new Uint8Array(8 + header.length + data.length);
  out.set(CHUNK_MAGIC, 0);
  new DataView(out.buffer).setUint32(4, header.length);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

/** Lowercase hex SHA-256 of `bytes`, by WebCrypto. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Uploads and deploys `zip` through `transport`, resuming where the agent stands.
 *
 * @throws {AgentRequestError} when the agent refuses the upload or the zip.
 * @throws {AgentConnectionError} when the connection ends for good.
 */
export async function uploadZip(
  transport: UploadTransport,
  zip: Uint8Array,
  options: UploadOptions = {},
): Promise<DeployOutcome> {
  options.signal?.throwIfAborted();
  const run = new UploadRun(transport, zip, await sha256Hex(zip), options);
  try {
    return await run.run();
  } finally {
    run.dispose();
  }
}

/** Why a pass ended without the outcome: start another. */
const RETRY = Symbol("retry");

/** One upload: its passes, and the outcome any of them may bring. */
class UploadRun {
  #t: UploadTransport;
  #zip: Uint8Array;
  #sha: string;
  #options: UploadOptions;
  #outcome = Promise.withResolvers<DeployOutcome>();
  #settled = false;
  /** Whether a pass sent the last byte (its outcome may still come, on a resumed session). */
  #lastByteSent = false;
  #done = new AbortController();
  #received = 0;
  /** Where the last chunk starts, once it is sent: progress past it means deploying. */
  #lastChunkAt = Infinity;
  #chunk = 1;
  #wake = () => {};
  #meter: { at: number; received: number } | undefined;

  constructor(t: UploadTransport, zip: Uint8Array, sha: string, options: UploadOptions) {
    this.#t = t;
    this.#zip = zip;
    this.#sha = sha;
    this.#options = options;
    this.#outcome.promise.catch(() => {});
  }

  async run(): Promise<DeployOutcome> {
    const { signal } = this.#options;
    for (let pass = 1; pass <= MAX_PASSES; pass++) {
      await this.#t.ready({ signal });
      // A resumed session's kept replies come before the handshake's: let them land.
      await new Promise((resolve) => setTimeout(resolve, 0));
      if (this.#settled) break;
      const result = await Promise.race([this.#outcome.promise, this.#pass()]);
      if (result !== RETRY) return result;
      signal?.throwIfAborted();
    }
    if (this.#settled) return await this.#outcome.promise;
    throw new Error(`Cannot upload: ${MAX_PASSES} attempts failed`);
  }

  dispose(): void {
    this.#done.abort();
  }

  /** One `upload_begin` and the chunks from where it says the upload stands. */
  async #pass(): Promise<typeof RETRY> {
    const pass = new AbortController();
    const signals = [pass.signal, this.#done.signal, this.#options.signal];
    const signal = AbortSignal.any(signals.filter((s) => s !== undefined));
    const end = this.#passEnd(signal);
    const onEvent = (event: Event) => this.#onProgress(event as RobotEvent);
    this.#lastChunkAt = Infinity;
    try {
      const id = this.#t.nextId("upload");
      const begin = this.#t.request("upload_begin", {
        size: this.#zip.length,
        sha256: this.#sha,
      }, { id, signal });
      this.#expectOutcome(id);
      const info = await Promise.race([begin, end.promise]);
      if (info === RETRY) return RETRY;
      const chunkId = `${id}.chunk`;
      // A refused chunk is answered under the chunks' id; a misplaced one is retried.
      const refused = this.#t.nextReply(chunkId, { signal }).then((message) =>
        message.code === "UPLOAD_ERROR"
          ? RETRY
          : Promise.reject(AgentRequestError.fromReply(message, "upload_chunk"))
      );
      refused.catch(() => {});
      const ended = Promise.race([end.promise, refused]);
      ended.catch(() => {});
      this.#t.addEventListener("event", onEvent);
      if (await this.#sendChunks(info, chunkId, { ended, stall: end.stall }) === RETRY) {
        return RETRY;
      }
      // The last chunk is answered by the outcome, not by progress: the zip is sent.
      const size = this.#zip.length;
      const start = Math.min(info.offset, size - 1);
      this.#lastChunkAt = start + Math.floor((size - 1 - start) / this.#chunk) * this.#chunk;
      if (this.#received >= this.#lastChunkAt) this.#report("deploying");
      return await ended;
    } finally {
      this.#t.removeEventListener("event", onEvent);
      pass.abort();
      end.dispose();
    }
  }

  /** Wires the second reply under `id` (the deploy's outcome) to the run's outcome. */
  #expectOutcome(id: ClientId): void {
    this.#t.nextReply(id, { signal: this.#done.signal }).then((message) => {
      this.#settled = true;
      if (message.status === "error") {
        this.#outcome.reject(AgentRequestError.fromReply(message, "upload_begin"));
      } else {
        this.#outcome.resolve(message.data as DeployOutcome);
      }
    }, (error) => {
      if (!this.#done.signal.aborted) this.#outcome.reject(error);
    });
  }

  /**
   * What ends a pass early: the link dropping, the signal, or no progress for `stallMs`
   * while the window is full (`stall(true)` arms that timer, `stall(false)` clears it).
   */
  #passEnd(signal: AbortSignal) {
    const { promise, resolve, reject } = Promise.withResolvers<typeof RETRY>();
    const onDisconnect = () => {
      this.#report("interrupted");
      resolve(RETRY);
    };
    const onAbort = () => reject(this.#options.signal?.reason ?? signal.reason);
    this.#t.addEventListener("disconnect", onDisconnect);
    signal.addEventListener("abort", onAbort);
    let timer: ReturnType<typeof setTimeout> | undefined;
    return {
      promise,
      stall: (armed: boolean) => {
        clearTimeout(timer);
        if (armed) timer = setTimeout(() => resolve(RETRY), this.#options.stallMs ?? 30_000);
      },
      dispose: () => {
        clearTimeout(timer);
        this.#t.removeEventListener("disconnect", onDisconnect);
        signal.removeEventListener("abort", onAbort);
        promise.catch(() => {});
        resolve(RETRY);
      },
    };
  }

  /**
   * Sends the chunks from `info.offset` on, keeping at most `chunksInFlight` of them
   * unacknowledged; resolves once the last is sent, or with RETRY when the pass ends.
   */
  async #sendChunks(
    info: UploadBeginResult,
    chunkId: string,
    end: { ended: Promise<typeof RETRY>; stall(armed: boolean): void },
  ): Promise<typeof RETRY | undefined> {
    const size = this.#zip.length;
    const chunk = Math.max(1, Math.min(this.#options.chunkBytes ?? 1 << 20, info.max_chunk_bytes));
    this.#chunk = chunk;
    const ahead = chunk * Math.max(1, this.#options.chunksInFlight ?? 4);
    let offset = info.offset;
    this.#received = offset;
    this.#meter ??= { at: performance.now(), received: offset };
    if (offset > 0) this.#report("resumed");
    this.#wake = () => {};
    try {
      // Everything is on the robot already, but no pass of ours sent the last byte: an
      // empty chunk at the end completes it.
      if (offset === size && !this.#lastByteSent) return this.#sendChunk(offset, size, chunkId);
      while (offset < size) {
        while (offset - this.#received >= ahead) {
          const woken = new Promise<undefined>((resolve) => this.#wake = () => resolve(undefined));
          end.stall(true);
          const why = await Promise.race([woken, end.ended]).finally(() => end.stall(false));
          if (why === RETRY) return RETRY;
        }
        const next = Math.min(size, offset + chunk);
        if (this.#sendChunk(offset, next, chunkId) === RETRY) return RETRY;
        offset = next;
      }
      return undefined;
    } finally {
      this.#wake = () => {};
    }
  }

  /** An `upload_progress` event: the agent stored bytes up to `received`. */
  #onProgress(event: RobotEvent): void {
    const progress = event.data as UploadProgressEvent | undefined;
    if (event.name !== "upload_progress" || progress?.upload_id !== this.#sha) return;
    if (progress.received <= this.#received) return;
    this.#received = progress.received;
    this.#report(progress.received >= this.#lastChunkAt ? "deploying" : "uploading");
    this.#wake();
  }

  /** Sends bytes `[from, to)`; RETRY when the link is down (the next pass resumes). */
  #sendChunk(from: number, to: number, chunkId: string): typeof RETRY | undefined {
    try {
      this.#t.sendBinary(encodeChunk(this.#sha, from, this.#zip.subarray(from, to), chunkId));
    } catch {
      return RETRY;
    }
    if (to === this.#zip.length) this.#lastByteSent = true;
    return undefined;
  }

  #report(phase: UploadProgress["phase"]): void {
    const onProgress = this.#options.onProgress;
    if (!onProgress) return;
    const total = this.#zip.length;
    const received = phase === "deploying" ? total : this.#received;
    const meter = this.#meter;
    const seconds = meter ? (performance.now() - meter.at) / 1000 : 0;
    const moved = meter ? received - meter.received : 0;
    const bytesPerSecond = seconds > 0.05 && moved > 0 ? moved / seconds : 0;
    const etaSeconds = bytesPerSecond > 0 ? (total - received) / bytesPerSecond : undefined;
    onProgress({ phase, received, total, bytesPerSecond, etaSeconds });
  }
}
