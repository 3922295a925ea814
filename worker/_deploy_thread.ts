/**
 * The deploy thread: a Web Worker inside the worker process that does the heavy part of
 * deploying (hashing uploads, inflating and CRC-checking zips, writing files), so the
 * worker's own thread stays free to route calls: a 100 Hz Move must not queue behind a
 * 50 MB upload.
 *
 * Speaks `{id, op, args}` → `{id, ok, result}` or `{id, ok: false, code, message, data}`.
 *
 * @module
 */
/// <reference lib="deno.worker" />
import { AgentError, errorCode, errorMessage } from "../errors.ts";
import { detectProject } from "./_detect.ts";
import { type ExtractLimits, extractZip } from "./_extract.ts";
import { UploadManager } from "./_uploads.ts";

/** A request to the thread. */
export interface ThreadRequest {
  id: number;
  op: "unpack" | "begin" | "write" | "finish" | "discard";
  args: unknown[];
}

let uploads: UploadManager | undefined;

const handlers: Record<ThreadRequest["op"], (...args: never[]) => Promise<unknown>> = {
  async unpack(source: Uint8Array | string, dest: string, limits: ExtractLimits) {
    const result = await extractZip(source, dest, limits);
    return { result, info: await detectProject(dest) };
  },
  begin(dir: string, maxBytes: number, size: unknown, sha256: unknown) {
    uploads ??= new UploadManager(dir, { maxBytes });
    return uploads.begin(size, sha256);
  },
  write(id: unknown, offset: unknown, bytes: Uint8Array) {
    if (!uploads) {
      throw new AgentError(
        "UPLOAD_ERROR",
        "Cannot store chunk: no upload is open; send upload_begin",
      );
    }
    return uploads.write(id, offset, bytes);
  },
  async finish(id: string) {
    if (!uploads) {
      throw new AgentError("UPLOAD_ERROR", `Cannot finish upload: no upload ${id} is open`);
    }
    return await uploads.finish(id);
  },
  async discard(id: string) {
    await uploads?.discard(id);
  },
};

/**
 * Requests run one after another, in arrival order: a chunk sent right behind its
 * `upload_begin` must find the upload open, though opening it awaits the file system.
 */
let queue: Promise<void> = Promise.resolve();

self.onmessage = (event: MessageEvent<ThreadRequest>) => {
  queue = queue.then(() => handle(event.data));
};

async function handle({ id, op, args }: ThreadRequest): Promise<void> {
  try {
    const result = await (handlers[op] as (...args: unknown[]) => Promise<unknown>)(...args);
    self.postMessage({ id, ok: true, result, open: uploads?.openCount ?? 0 });
  } catch (error) {
    self.postMessage({
      id,
      ok: false,
      code: errorCode(error),
      message: errorMessage(error),
      data: error instanceof AgentError ? error.data : undefined,
      open: uploads?.openCount ?? 0,
    });
  }
}
