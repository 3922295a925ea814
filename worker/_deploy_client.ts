/**
 * The worker's handle on its deploy thread ({@link ./_deploy_thread.ts}): started on the
 * first deploy, stopped again when idle, so it costs no memory on a robot that is only
 * being driven.
 *
 * @module
 */
import { AgentError, type ErrorCode } from "../errors.ts";
import type { ExtractLimits, ExtractResult } from "./_extract.ts";
import type { ProjectInfo } from "./_detect.ts";
import type { ThreadRequest } from "./_deploy_thread.ts";
import type { UploadProgress } from "./_uploads.ts";

/** The thread is stopped after this long without work and without open uploads. */
const IDLE_STOP_MS = 10_000;

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Runs deploy work on a separate thread; every method may be called at any time. */
export class DeployThread {
  #worker: Worker | undefined;
  #pending = new Map<number, Pending>();
  #nextId = 1;
  #open = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #uploadDir: string;
  #maxUploadBytes: number;

  /** Creates the handle; no thread runs until there is work. */
  constructor(options: { uploadDir: string; maxUploadBytes: number }) {
    this.#uploadDir = options.uploadDir;
    this.#maxUploadBytes = options.maxUploadBytes;
  }

  /** Extracts a zip into `dest` and detects the project there. */
  unpack(
    source: Uint8Array | string,
    dest: string,
    limits: ExtractLimits,
    signal?: AbortSignal,
  ): Promise<{ result: ExtractResult; info: ProjectInfo }> {
    const transfer = source instanceof Uint8Array ? [source.buffer as ArrayBuffer] : [];
    return this.#call("unpack", [source, dest, limits], transfer, signal);
  }

  /** Starts or resumes a chunked upload. */
  begin(size: unknown, sha256: unknown): Promise<UploadProgress> {
    return this.#call("begin", [this.#uploadDir, this.#maxUploadBytes, size, sha256]);
  }

  /** Appends a chunk; the bytes are moved to the thread, not copied. */
  write(id: unknown, offset: unknown, bytes: Uint8Array): Promise<UploadProgress> {
    return this.#call("write", [id, offset, bytes], [bytes.buffer as ArrayBuffer]);
  }

  /** Checks a complete upload's digest and returns its file. */
  finish(id: string): Promise<string> {
    return this.#call("finish", [id]);
  }

  /** Removes an upload's file. */
  discard(id: string): Promise<void> {
    return this.#call("discard", [id]);
  }

  /** Stops the thread; work in progress is abandoned (staging is cleaned by its owner). */
  close(): void {
    clearTimeout(this.#idleTimer);
    this.#worker?.terminate();
    this.#worker = undefined;
    const error = new AgentError("INTERNAL", "Deploy stopped: the worker is shutting down");
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
    this.#open = 0;
  }

  #call<T>(
    op: ThreadRequest["op"],
    args: unknown[],
    transfer: ArrayBuffer[] = [],
    signal?: AbortSignal,
  ): Promise<T> {
    clearTimeout(this.#idleTimer);
    const worker = this.#worker ??= this.#spawn();
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        // Terminating is the one way to stop an extraction mid-stream.
        this.close();
        reject(signal?.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(id, {
        resolve: (value) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(value as T);
        },
        reject: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      });
      worker.postMessage({ id, op, args }, transfer);
    });
  }

  #spawn(): Worker {
    const worker = new Worker(new URL("./_deploy_thread.ts", import.meta.url), { type: "module" });
    worker.onmessage = (event) => {
      const { id, ok, result, code, message, data, open } = event.data;
      this.#open = open;
      const pending = this.#pending.get(id);
      if (!pending) return;
      this.#pending.delete(id);
      if (ok) pending.resolve(result);
      else pending.reject(new AgentError(code as ErrorCode, message, data ? { data } : undefined));
      if (this.#pending.size === 0 && this.#open === 0) {
        this.#idleTimer = setTimeout(() => this.close(), IDLE_STOP_MS);
        Deno.unrefTimer(this.#idleTimer as unknown as number);
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      const error = new AgentError("INTERNAL", `Deploy thread failed: ${event.message}`);
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
      this.#worker?.terminate();
      this.#worker = undefined;
    };
    return worker;
  }
}
