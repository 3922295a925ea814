/**
 * Chunked uploads: a zip arrives in pieces into `uploads/<sha256>.part`, survives
 * reconnects (and worker restarts), and is checked against its declared sha256.
 *
 * What a client can make the worker hold is bounded: at most `upload.max_in_progress`
 * uploads at once, no open file between chunks, and partial files untouched for
 * `upload.stale_s` are removed.
 *
 * @module
 */
import { joinPath } from "../paths.ts";
import { AgentError, ErrorCode, errorMessage } from "../errors.ts";
import type { OpData, UploadProgress } from "../ipc/mod.ts";
import { logger } from "../log.ts";

const log = logger("worker", "uploads");

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

/** An upload in progress. No file is held open for it: each chunk opens and closes it. */
interface Upload {
  id: string;
  size: number;
  received: number;
  /** When it was last begun or written to ({@linkcode UploadManagerOptions.now}). */
  touched: number;
}

const SHA256_PATTERN = /^[0-9a-f]{64}$/;
/** The longest pause between two looks for stale partial files. */
const MAX_SWEEP_EVERY_MS = 3600 * 1000;

/** Options for {@linkcode UploadManager}. */
export interface UploadManagerOptions {
  /** The largest upload accepted (`upload.max_bytes`). */
  maxBytes: number;
  /** Uploads in progress at once (`upload.max_in_progress`); one more is `UPLOAD_LIMIT`. */
  maxInProgress: number;
  /**
   * An upload, or a partial file left by an earlier run, untouched for this long
   * (`upload.stale_s`, in ms) is removed: at {@linkcode UploadManager.open}, and then
   * every `staleMs` or hour, whichever is shorter.
   */
  staleMs: number;
  /** Gives the sha256 (lowercase hex) of a complete upload's file. */
  digest: (path: string) => Promise<string>;
  /** The clock, in ms since the epoch; `Date.now` unless a test steps its own. */
  now?: () => number;
}

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
  #options: Required<UploadManagerOptions>;
  #open = new Map<string, Upload>();
  /** Complete uploads being deployed: their files are read until {@linkcode discard}. */
  #finishing = new Set<string>();
  #queue: Promise<unknown> = Promise.resolve();
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #sweepQueued = false;

  /** Creates a manager over `dir`; {@linkcode open} starts removing stale files. */
  constructor(dir: string, options: UploadManagerOptions) {
    this.#dir = dir;
    this.#options = { now: Date.now, ...options };
  }

  /**
   * Removes stale partial files now, then periodically until {@linkcode close}. Never
   * rejects: a failure is logged, and the next look tries again.
   */
  async open(): Promise<void> {
    const every = Math.min(this.#options.staleMs, MAX_SWEEP_EVERY_MS);
    if (this.#sweepTimer === undefined) {
      this.#sweepTimer = setInterval(() => this.#sweep(), every);
      // Only housekeeping: it must never keep the worker process alive.
      Deno.unrefTimer(this.#sweepTimer);
    }
    await this.#sweep();
  }

  /**
   * Starts an upload, or resumes the one with the same sha256 from where it stopped.
   *
   * @throws {AgentError} `UPLOAD_ERROR` for a bad declaration, `UPLOAD_LIMIT` for a new
   * upload while `maxInProgress` are in progress (`data` lists them).
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
    if (size > this.#options.maxBytes) {
      throw new AgentError(
        ErrorCode.ZIP_TOO_LARGE,
        `Cannot begin upload: ${size} bytes exceed upload.max_bytes (${this.#options.maxBytes})`,
      );
    }
    const existing = this.#open.get(sha256);
    if (existing) {
      if (existing.size !== size) {
        throw uploadError("Cannot begin upload: size differs from the upload in progress");
      }
      existing.touched = this.#options.now();
      return this.#progress(existing);
    }
    if (this.#finishing.has(sha256)) {
      throw uploadError("Cannot begin upload: the same upload is complete and being deployed");
    }
    await this.#forgetStale();
    this.#checkLimit();
    try {
      await Deno.mkdir(this.#dir, { recursive: true });
      // Resuming: what is on disk stands (up to the declared size); the digest is checked
      // once, over the whole file, when the last byte is in.
      const received = await this.#prepareFile(this.#path(sha256), size);
      const upload: Upload = { id: sha256, size, received, touched: this.#options.now() };
      this.#open.set(sha256, upload);
      return this.#progress(upload);
    } catch (error) {
      throw new AgentError(ErrorCode.STORAGE_ERROR, `Cannot begin upload: ${errorMessage(error)}`);
    }
  }

  /** Refuses a new upload past `maxInProgress`, saying which are in progress. */
  #checkLimit(): void {
    const max = this.#options.maxInProgress;
    if (this.#open.size < max) return;
    const count = this.#open.size;
    throw new AgentError(
      ErrorCode.UPLOAD_LIMIT,
      `Cannot begin upload: ${count} uploads are in progress, as many as upload.max_in_progress ` +
        `(${max}) allows; finish one, or abort one with ` +
        `{"command": "upload_abort", "params": {"upload_id": SHA256}}`,
      {
        data: {
          max_in_progress: max,
          in_progress: [...this.#open.values()].map((upload) => this.#progress(upload)),
        },
      },
    );
  }

  /**
   * Creates or opens an upload's file, cuts what lies past `size`, marks it touched, and
   * closes it again; returns how many bytes it holds.
   */
  async #prepareFile(path: string, size: number): Promise<number> {
    using file = await Deno.open(path, { write: true, create: true });
    const onDisk = (await file.stat()).size;
    const received = Math.min(onDisk, size);
    // Only when needed, and never to zero: ext4 flushes a file truncated to zero when it
    // is closed (its auto_da_alloc heuristic), and that close runs on the thread that
    // routes calls.
    if (onDisk > received) await file.truncate(received);
    // A resumed upload is fresh, also for the sweep of a later run.
    const now = new Date(this.#options.now());
    await file.utime(now, now);
    return received;
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
      await this.#append(upload, bytes);
      upload.received += bytes.length;
      upload.touched = this.#options.now();
      return this.#progress(upload);
    });
  }

  /** Writes a chunk where the upload stands, opening its file for this chunk alone. */
  async #append(upload: Upload, bytes: Uint8Array): Promise<void> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.#path(upload.id), { write: true });
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        throw new AgentError(ErrorCode.STORAGE_ERROR, `Cannot store chunk: ${errorMessage(error)}`);
      }
      this.#open.delete(upload.id);
      throw uploadError(
        `Cannot store chunk: the partial file of upload ${upload.id} is gone; send upload_begin`,
      );
    }
    using _file = file;
    try {
      await file.seek(upload.received, Deno.SeekMode.Start);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
    } catch (error) {
      // What a failed write left past the upload's end would be taken for its data.
      await file.truncate(upload.received).catch(() => {});
      throw new AgentError(ErrorCode.STORAGE_ERROR, `Cannot store chunk: ${errorMessage(error)}`);
    }
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
    this.#finishing.add(id);
    const path = this.#path(id);
    const verified = this.#options.digest(path).then(
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
      this.#open.delete(id);
      this.#finishing.delete(id);
      await Deno.remove(this.#path(id)).catch(() => {});
    });
  }

  /**
   * Forgets an upload in progress and removes its partial file (one left by an earlier
   * run too). `removed` says whether there was either; aborting nothing is no error.
   *
   * @throws {AgentError} `UPLOAD_ERROR` for a malformed id, or an upload whose last byte
   * is in and that is being deployed.
   */
  abort(id: unknown): Promise<OpData<"upload_abort">> {
    return this.#serially(async () => {
      if (typeof id !== "string" || !SHA256_PATTERN.test(id)) {
        throw uploadError("Cannot abort upload: upload_id must be 64 lowercase hex digits");
      }
      if (this.#finishing.has(id)) {
        throw uploadError(`Cannot abort upload ${id}: it is complete and being deployed`);
      }
      const forgotten = this.#open.delete(id);
      const removed = await this.#remove(id);
      if (forgotten || removed) log.info("Upload {id} aborted", { id });
      return { upload_id: id, removed: forgotten || removed };
    });
  }

  /**
   * Stops the periodic look for stale files and lets queued work settle. Partial files
   * stay for a later resume; no file is open between operations.
   */
  async close(): Promise<void> {
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
    await this.#queue;
    this.#open.clear();
  }

  #path(id: string): string {
    return joinPath(this.#dir, `${id}.part`);
  }

  /** Removes an upload's partial file; false when there was none. */
  async #remove(id: string): Promise<boolean> {
    try {
      await Deno.remove(this.#path(id));
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw new AgentError(ErrorCode.STORAGE_ERROR, `Cannot remove upload: ${errorMessage(error)}`);
    }
  }

  #serially<T>(work: () => Promise<T>): Promise<T> {
    const result = this.#queue.then(work);
    this.#queue = result.catch(() => undefined);
    return result;
  }

  #progress(upload: Upload): UploadProgress {
    return { upload_id: upload.id, size: upload.size, received: upload.received };
  }

  /** Queues a look for stale files, unless one is queued already. */
  #sweep(): Promise<void> {
    if (this.#sweepQueued) return Promise.resolve();
    this.#sweepQueued = true;
    return this.#serially(async () => {
      this.#sweepQueued = false;
      await this.#forgetStale();
      await this.#removeStaleFiles();
    }).catch((error) => {
      log.warn("Cannot remove stale uploads: {error}", { error: errorMessage(error) });
    });
  }

  /** Forgets the uploads in progress that nobody touched for `staleMs`, and their files. */
  async #forgetStale(): Promise<void> {
    const now = this.#options.now();
    for (const upload of [...this.#open.values()]) {
      if (now - upload.touched <= this.#options.staleMs) continue;
      this.#open.delete(upload.id);
      await this.#remove(upload.id).catch(() => {});
      log.info("Upload {id} removed: untouched for {s} s", {
        id: upload.id,
        s: Math.round((now - upload.touched) / 1000),
      });
    }
  }

  /** Removes partial files of no upload in progress whose last change is `staleMs` old. */
  async #removeStaleFiles(): Promise<void> {
    const now = this.#options.now();
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(this.#dir));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return;
      throw error;
    }
    for (const entry of entries) {
      if (!entry.isFile || !entry.name.endsWith(".part")) continue;
      const id = entry.name.slice(0, -".part".length);
      if (this.#open.has(id) || this.#finishing.has(id)) continue;
      const info = await Deno.stat(this.#path(id)).catch(() => undefined);
      if (info?.mtime && now - info.mtime.getTime() > this.#options.staleMs) {
        await Deno.remove(this.#path(id)).catch(() => {});
        log.info("Stale partial upload {id} removed", { id });
      }
    }
  }
}
