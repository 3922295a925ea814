/**
 * Chunked uploads: a zip arrives in pieces into `uploads/<sha256>.part`, survives
 * reconnects (and worker restarts), and is checked against its declared sha256.
 *
 * @module
 */
import type { Hash } from "node:crypto";
import { joinPath } from "../paths.ts";
import { AgentError, ErrorCode, errorMessage } from "../errors.ts";

/** Progress of one upload, as reported to the client. */
export interface UploadProgress {
  upload_id: string;
  size: number;
  received: number;
}

interface Upload {
  id: string;
  size: number;
  received: number;
  file: Deno.FsFile;
  hash: Hash;
}

const SHA256_PATTERN = /^[0-9a-f]{64}$/;
/** Partial uploads untouched for this long are removed. */
const STALE_MS = 24 * 3600 * 1000;

function uploadError(message: string, data?: UploadProgress): AgentError {
  return new AgentError(ErrorCode.UPLOAD_ERROR, message, data ? { data: { ...data } } : undefined);
}

/**
 * Keeps the partial uploads of a storage folder.
 *
 * Operations run one after another in call order, whatever they await: a chunk sent right
 * behind its `upload_begin` finds the upload open, and chunks land strictly in order.
 */
export class UploadManager {
  #dir: string;
  #maxBytes: number;
  #open = new Map<string, Upload>();
  #queue: Promise<unknown> = Promise.resolve();

  /** Creates a manager over `dir` accepting uploads up to `maxBytes`. */
  constructor(dir: string, options: { maxBytes: number }) {
    this.#dir = dir;
    this.#maxBytes = options.maxBytes;
  }

  /**
   * Starts an upload, or resumes the one with the same sha256 from where it stopped.
   *
   * @throws {AgentError} `UPLOAD_ERROR` for a bad declaration.
   */
  begin(size: unknown, sha256: unknown): Promise<UploadProgress> {
    return this.#serially(() => this.#begin(size, sha256));
  }

  async #begin(size: unknown, sha256: unknown): Promise<UploadProgress> {
    if (typeof sha256 !== "string" || !SHA256_PATTERN.test(sha256)) {
      throw uploadError("Cannot begin upload: sha256 must be 64 lowercase hex digits");
    }
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size <= 0) {
      throw uploadError("Cannot begin upload: size must be a positive integer");
    }
    if (size > this.#maxBytes) {
      throw new AgentError(
        ErrorCode.ZIP_TOO_LARGE,
        `Cannot begin upload: ${size} bytes exceed upload.max_bytes (${this.#maxBytes})`,
      );
    }
    const existing = this.#open.get(sha256);
    if (existing) {
      if (existing.size !== size) {
        throw uploadError("Cannot begin upload: size differs from the upload in progress");
      }
      return this.#progress(existing);
    }
    await this.#removeStale();
    const path = joinPath(this.#dir, `${sha256}.part`);
    let file: Deno.FsFile | undefined;
    try {
      file = await Deno.open(path, { read: true, write: true, create: true });
      // Loaded with the first upload: node:crypto starts Deno's Node layer (~8 MiB).
      const { createHash } = await import("node:crypto");
      const hash = createHash("sha256");
      let received = 0;
      // Resuming: the hash state did not survive, so rebuild it from the bytes on disk.
      const buffer = new Uint8Array(1024 * 1024);
      while (received < size) {
        const n = await file.read(buffer.subarray(0, Math.min(buffer.length, size - received)));
        if (n === null) break;
        hash.update(buffer.subarray(0, n));
        received += n;
      }
      await file.truncate(received);
      await file.seek(received, Deno.SeekMode.Start);
      const upload: Upload = { id: sha256, size, received, file, hash };
      this.#open.set(sha256, upload);
      return this.#progress(upload);
    } catch (error) {
      file?.close();
      throw new AgentError(ErrorCode.STORAGE_ERROR, `Cannot begin upload: ${errorMessage(error)}`);
    }
  }

  /**
   * Appends a chunk at `offset`, which must be where the upload stands.
   *
   * @throws {AgentError} `UPLOAD_ERROR` naming the expected offset.
   */
  write(id: unknown, offset: unknown, bytes: Uint8Array): Promise<UploadProgress> {
    return this.#serially(async () => {
      const upload = typeof id === "string" ? this.#open.get(id) : undefined;
      if (!upload) {
        throw uploadError(
          `Cannot store chunk: no upload ${JSON.stringify(id)} is open; send upload_begin`,
        );
      }
      if (offset !== upload.received) {
        throw uploadError(
          `Cannot store chunk: offset ${offset} is not where the upload stands (${upload.received})`,
          this.#progress(upload),
        );
      }
      if (upload.received + bytes.length > upload.size) {
        throw uploadError(
          `Cannot store chunk: ${
            upload.received + bytes.length
          } bytes exceed the declared size ${upload.size}`,
          this.#progress(upload),
        );
      }
      try {
        let written = 0;
        while (written < bytes.length) written += await upload.file.write(bytes.subarray(written));
      } catch (error) {
        await upload.file.seek(upload.received, Deno.SeekMode.Start).catch(() => {});
        throw new AgentError(ErrorCode.STORAGE_ERROR, `Cannot store chunk: ${errorMessage(error)}`);
      }
      upload.hash.update(bytes);
      upload.received += bytes.length;
      return this.#progress(upload);
    });
  }

  /** Uploads in progress. */
  get openCount(): number {
    return this.#open.size;
  }

  /**
   * Closes a complete upload and checks its digest; returns the file's path. The caller
   * removes it with {@linkcode discard} when done.
   *
   * @throws {AgentError} `UPLOAD_ERROR` when the digest differs (the upload is dropped).
   */
  finish(id: string): Promise<string> {
    return this.#serially(() => this.#finish(id));
  }

  async #finish(id: string): Promise<string> {
    const upload = this.#open.get(id);
    if (!upload) throw uploadError(`Cannot finish upload: no upload ${id} is open`);
    this.#open.delete(id);
    upload.file.close();
    const digest = upload.hash.digest("hex");
    const path = joinPath(this.#dir, `${id}.part`);
    if (digest !== id) {
      await Deno.remove(path).catch(() => {});
      throw uploadError(`Cannot finish upload: sha256 of the data is ${digest}, not ${id}`);
    }
    return path;
  }

  /** Removes an upload's file. */
  discard(id: string): Promise<void> {
    return this.#serially(async () => {
      const upload = this.#open.get(id);
      if (upload) {
        this.#open.delete(id);
        upload.file.close();
      }
      await Deno.remove(joinPath(this.#dir, `${id}.part`)).catch(() => {});
    });
  }

  /** Closes every open file (the partial data stays for a later resume). */
  close(): void {
    for (const upload of this.#open.values()) upload.file.close();
    this.#open.clear();
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #progress(upload: Upload): UploadProgress {
    return { upload_id: upload.id, size: upload.size, received: upload.received };
  }

  async #removeStale(): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true });
    const now = Date.now();
    for await (const entry of Deno.readDir(this.#dir)) {
      const path = joinPath(this.#dir, entry.name);
      const id = entry.name.replace(/\.part$/, "");
      if (this.#open.has(id)) continue;
      const info = await Deno.stat(path).catch(() => undefined);
      if (info?.mtime && now - info.mtime.getTime() > STALE_MS) {
        await Deno.remove(path).catch(() => {});
      }
    }
  }
}
