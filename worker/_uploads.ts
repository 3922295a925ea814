/**
 * Chunked uploads: a zip arrives in pieces into `uploads/<sha256>.part`, survives
 * reconnects (and worker restarts), and is checked against its declared sha256.
 *
 * @module
 */
import { joinPath } from "../paths.ts";
import { AgentError, ErrorCode, errorMessage } from "../errors.ts";
import type { UploadProgress } from "../ipc/mod.ts";

const SHA256_SCRIPT = `import hashlib, sys
digest = hashlib.sha256()
with open(sys.argv[1], "rb") as data:
    for block in iter(lambda: data.read(1 << 20), b""):
        digest.update(block)
sys.stdout.write(digest.hexdigest())
`;

/**
 * A digest function for {@linkcode UploadManager} that runs the robot's Python (`hashlib`,
 * native code) over the file, off the worker's thread: Deno has no streaming sha256
 * outside its Node layer (`node:crypto`), whose first import stalls the worker's thread
 * 20–40 ms and keeps ~6 MiB. `-I -S`: no environment, user or site packages, so it starts
 * in milliseconds. (Lowering its priority was measured: no effect on `Move` during an
 * upload beyond noise, and the digest is on the way to the upload's reply.)
 */
export function pythonSha256(python: string): (path: string) => Promise<string> {
  return async (path) => {
    const output = await new Deno.Command(python, {
      args: ["-I", "-S", "-c", SHA256_SCRIPT, path],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(output.stdout).trim();
    if (!output.success || !SHA256_PATTERN.test(text)) {
      const why = new TextDecoder().decode(output.stderr).trim().split("\n").at(-1);
      throw new Error(`${python} exited with code ${output.code}: ${why || "no output"}`);
    }
    return text;
  };
}

interface Upload {
  id: string;
  size: number;
  received: number;
  file: Deno.FsFile;
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
  #digest: (path: string) => Promise<string>;
  #open = new Map<string, Upload>();
  #queue: Promise<unknown> = Promise.resolve();

  /**
   * Creates a manager over `dir` accepting uploads up to `maxBytes`; `digest` gives the
   * sha256 (lowercase hex) of a complete upload's file.
   */
  constructor(
    dir: string,
    options: { maxBytes: number; digest: (path: string) => Promise<string> },
  ) {
    this.#dir = dir;
    this.#maxBytes = options.maxBytes;
    this.#digest = options.digest;
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
      // Resuming: what is on disk stands (up to the declared size); the digest is checked
      // once, over the whole file, when the last byte is in.
      const onDisk = (await file.stat()).size;
      const received = Math.min(onDisk, size);
      // Only when needed: ext4 flushes a file truncated to zero when it is closed (its
      // auto_da_alloc heuristic), and that close runs on the thread that routes calls.
      if (onDisk > received) await file.truncate(received);
      await file.seek(received, Deno.SeekMode.Start);
      const upload: Upload = { id: sha256, size, received, file };
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
      upload.received += bytes.length;
      return this.#progress(upload);
    });
  }

  /**
   * Closes a complete upload and starts checking its digest; returns the file's path at
   * once, and `verified`, which rejects with `UPLOAD_ERROR` (the data is not what the
   * upload declared) or `STORAGE_ERROR`. The check runs in another process, so the caller
   * can extract the file meanwhile; it removes the file with {@linkcode discard} when done,
   * after `verified` has settled.
   *
   * @throws {AgentError} `UPLOAD_ERROR` when no such upload is open.
   */
  finish(id: string): Promise<{ path: string; verified: Promise<void> }> {
    return this.#serially(() => this.#finish(id));
  }

  #finish(id: string): Promise<{ path: string; verified: Promise<void> }> {
    const upload = this.#open.get(id);
    if (!upload) throw uploadError(`Cannot finish upload: no upload ${id} is open`);
    this.#open.delete(id);
    upload.file.close();
    const path = joinPath(this.#dir, `${id}.part`);
    const verified = this.#digest(path).then(
      (digest) => {
        if (digest !== id) {
          throw uploadError(`Cannot finish upload: sha256 of the data is ${digest}, not ${id}`);
        }
      },
      (error) => {
        throw new AgentError(
          ErrorCode.STORAGE_ERROR,
          `Cannot finish upload: cannot compute its sha256: ${errorMessage(error)}`,
        );
      },
    );
    // Settled for sure by whoever awaits it; never an unhandled rejection meanwhile.
    verified.catch(() => {});
    return Promise.resolve({ path, verified });
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
