/**
 * The worker's request operations, one small handler each: the table the worker looks a
 * `req` up in. Each resolves with the success reply's message and data, or throws an
 * `AgentError` whose code the error reply carries.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import { AgentError, ErrorCode, errorCode, errorMessage } from "../errors.ts";
import { type OpData, type OpParams, releaseBytes, type WorkerOp } from "../ipc/mod.ts";
import { logger } from "../log.ts";
import type { CallRouter } from "./_calls.ts";
import type { VersionLifecycle } from "./_lifecycle.ts";
import type { ProjectStore } from "./_project_store.ts";
import type { ProjectRunner } from "./_runner.ts";
import type { SerialQueue } from "./_serial.ts";
import type { StateFile } from "./_state_file.ts";
import type { UploadManager } from "./_uploads.ts";
import type { VersionBook } from "./_version_book.ts";

const log = logger("worker", "ops");

/** What every handler works with: the worker's parts. */
export interface OpContext {
  readonly config: AgentConfig;
  readonly store: ProjectStore;
  readonly uploads: UploadManager;
  readonly runner: ProjectRunner;
  /** Starts versions and judges them: every start, rollback and activate goes through it. */
  readonly lifecycle: VersionLifecycle;
  readonly book: VersionBook;
  readonly calls: CallRouter;
  /** UPDATE, START and rollback run one at a time in it. */
  readonly queue: SerialQueue;
  readonly stateFile: StateFile;
  /** Aborted when the gateway goes: an UPDATE nobody waits for must not land. */
  readonly signal: AbortSignal;
}

/** A handler's success: the reply's `message` and `data`. */
export interface OpReply<K extends WorkerOp> {
  message: string;
  data: OpData<K>;
}

/** Handles one operation; `body` is the frame's body (a zip, an upload slice). */
export type OpHandler<K extends WorkerOp> = (
  ctx: OpContext,
  params: OpParams<K>,
  body: Uint8Array | undefined,
) => Promise<OpReply<K>>;

/** Every operation's handler. */
export const OPS: { readonly [K in WorkerOp]: OpHandler<K> } = {
  update: (ctx, _params, body) =>
    // Extracted (or refused), the zip is freed at once rather than at the next GC.
    ctx.queue.run(() => deploy(ctx, body ?? new Uint8Array())).finally(() => releaseBytes(body)),
  start: (ctx) =>
    ctx.queue.runSwitch(async () => ({
      message: "Project started",
      data: await ctx.lifecycle.launch(ctx.store.current),
    })),
  rollback: (ctx) => ctx.queue.runSwitch(() => ctx.lifecycle.rollback()),
  versions: async (ctx) => ({ message: "Versions", data: await ctx.lifecycle.versions() }),
  activate: (ctx, params) =>
    ctx.queue.runSwitch(() => ctx.lifecycle.activateAndStart(params?.version)),
  status: (ctx) =>
    Promise.resolve({
      message: "Status",
      data: {
        worker: { pid: Deno.pid },
        project: ctx.runner.status(ctx.store.current),
        calls: ctx.calls.counts,
      },
    }),
  safety_stop: async (ctx, params) => {
    log.info("Safety stop: {reason}", { reason: params.reason });
    ctx.lifecycle.onSafetyStop();
    const ran = await ctx.runner.executor?.safetyStop(ctx.config.safety.on_disconnect) ?? [];
    return { message: "Safety stop done", data: { ran } };
  },
  upload_begin: async (ctx, params) => {
    const progress = await ctx.uploads.begin(params.size, params.sha256);
    return { message: "Upload ready", data: { ...progress, offset: progress.received } };
  },
  upload_chunk: uploadChunk,
  upload_abort: async (ctx, params) => {
    const data = await ctx.uploads.abort(params.upload_id);
    return { message: data.removed ? "Upload aborted" : "No such upload to abort", data };
  },
};

/** Runs operation `op`; an unknown one (a gateway of another build) is `UNKNOWN_COMMAND`. */
export function runOp<K extends WorkerOp>(
  ctx: OpContext,
  request: { op: K; params: OpParams<K> },
  body: Uint8Array | undefined,
): Promise<OpReply<K>> {
  if (!Object.hasOwn(OPS, request.op)) {
    throw new AgentError(ErrorCode.UNKNOWN_COMMAND, `Unknown operation: ${request.op}`);
  }
  const handler: OpHandler<K> = OPS[request.op];
  return handler(ctx, request.params, body);
}

/** Makes a zip the current version; the running project is stopped first. */
async function deploy(
  ctx: OpContext,
  source: Uint8Array | string,
  upload?: { sha256: string; verified: Promise<void> },
): Promise<OpReply<"update">> {
  // A one-message zip's digest is computed while it is extracted; an upload's is its id.
  const digest = typeof source === "string" ? undefined : sha256Hex(source);
  let meta;
  try {
    meta = await ctx.store.add(source, { signal: ctx.signal, verified: upload?.verified });
  } finally {
    await digest;
  }
  ctx.signal.throwIfAborted();
  await ctx.book.deployed(meta.version, upload?.sha256 ?? await digest ?? null);
  await ctx.lifecycle.unload();
  await ctx.lifecycle.activate(meta.version);
  await ctx.stateFile.write({ started: false });
  log.info("Project version {version} deployed: {type}, {files} files", { ...meta });
  return {
    message: `Project updated: ${meta.type} project, version ${meta.version}`,
    data: ctx.runner.projectData(meta),
  };
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return new Uint8Array(digest).toHex();
}

async function uploadChunk(
  ctx: OpContext,
  params: OpParams<"upload_chunk">,
  body: Uint8Array | undefined,
): Promise<OpReply<"upload_chunk">> {
  let progress;
  try {
    progress = await ctx.uploads.write(params.upload_id, params.offset, body ?? new Uint8Array());
  } finally {
    // Written: free the slice now, not at V8's next collection.
    releaseBytes(body);
  }
  if (progress.received < progress.size) return { message: "Chunk stored", data: progress };
  const id = progress.upload_id;
  let verified: Promise<void> | undefined;
  try {
    // The digest is checked in another process while the zip is extracted; the new
    // version is made only once it matches.
    const finished = await ctx.uploads.finish(id);
    verified = finished.verified;
    const reply = await ctx.queue.run(() =>
      deploy(ctx, finished.path, { sha256: id, verified: finished.verified })
    );
    return { message: reply.message, data: { ...progress, complete: true, ...reply.data } };
  } catch (error) {
    // The upload is over either way: say so, so the gateway answers its upload_begin.
    throw new AgentError(errorCode(error), errorMessage(error), {
      data: { ...progress, complete: true },
    });
  } finally {
    // The digest's process reads the file: it goes once that is done.
    await verified?.catch(() => {});
    await ctx.uploads.discard(id).catch(() => {});
  }
}
