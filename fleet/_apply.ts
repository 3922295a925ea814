/**
 * One deploy of a desired state on this robot, through the gateway's own commands on the
 * fleet's connection: the chunked upload of the fetched zip, `start`, probation, and on
 * failure the return to the last good version.
 *
 * Probation: the version must keep running (`status`: the same version, not exited or
 * failed) for `lifecycle.probation_s`, and then be marked good by the worker's lifecycle
 * (`versions`), which judges the same probation. With `auto_rollback` a candidate that
 * fails is replaced by the worker itself; this code notices the version changed and
 * reports it rolled back. Otherwise it `activate`s the last good version, or sends
 * `rollback`, and if that does not land on the last good version either, deploys the last
 * good zip again from its cache.
 *
 * @module
 */
import { logger } from "../log.ts";
import type { CommandBridge, GatewayMessage } from "./_bridge.ts";
import { sleep } from "./_nats.ts";

const log = logger("fleet", "apply");

/** The largest chunk sent to the gateway (its own limit may be lower). */
const CHUNK_BYTES = 256 * 1024;

/** A failure worth retrying later: the controller's slot is taken, the link is gone. */
export class RetryLater extends Error {
  /** The gateway's code (`BUSY`, …). */
  readonly code: string;

  /** Creates the error. */
  constructor(code: string, message: string) {
    super(message);
    this.name = "RetryLater";
    this.code = code;
  }
}

/** A deploy that failed for good: the gateway's code and message. */
export class DeployFailed extends Error {
  /** The gateway's code (`START_FAILED`, `BAD_ZIP`, …). */
  readonly code: string;

  /** Creates the error. */
  constructor(code: string, message: string) {
    super(message);
    this.name = "DeployFailed";
    this.code = code;
  }
}

/** What the deploy steps need. */
export interface ApplyContext {
  bridge: CommandBridge;
  takeover: boolean;
  signal: AbortSignal;
  probationS: number;
  /** Whether the worker replaces a failing candidate by itself. */
  autoRollback: boolean;
}

/** What `status` says of the project. */
export interface ProjectState {
  version: number | null;
  state: string | null;
}

async function send(
  ctx: ApplyContext,
  message: Record<string, unknown>,
): Promise<GatewayMessage> {
  return await ctx.bridge.request(message, { takeover: ctx.takeover }).reply;
}

/** Throws for an error reply: to retry for a busy robot, else as a failure. */
function check(reply: GatewayMessage): GatewayMessage {
  if (reply.status !== "error") return reply;
  const code = reply.code ?? "INTERNAL";
  const message = reply.message ?? "failed";
  if (code === "BUSY" || code === "SHUTTING_DOWN" || code === "WORKER_UNAVAILABLE") {
    throw new RetryLater(code, message);
  }
  throw new DeployFailed(code, message);
}

/** The project's version and state now. */
export async function projectState(ctx: ApplyContext): Promise<ProjectState> {
  const reply = await ctx.bridge.request({ command: "status" }).reply;
  const project = (reply.data as { project?: { version?: number; state?: string } } | undefined)
    ?.project;
  return { version: project?.version ?? null, state: project?.state ?? null };
}

/**
 * Uploads the zip at `path` through the chunked upload and resolves with the version it
 * became (current, not started).
 */
export async function upload(
  ctx: ApplyContext,
  zip: { path: string; sha256: string; size: number },
  onProgress: (received: number) => void,
): Promise<number> {
  const { reply, later } = ctx.bridge.request({
    command: "upload_begin",
    params: { size: zip.size, sha256: zip.sha256 },
  }, { takeover: ctx.takeover });
  const begun = check(await reply).data as { offset: number; max_chunk_bytes?: number };
  const chunkBytes = Math.min(CHUNK_BYTES, begun.max_chunk_bytes ?? CHUNK_BYTES);
  using file = await Deno.open(zip.path, { read: true });
  await file.seek(begun.offset, Deno.SeekMode.Start);
  const buffer = new Uint8Array(chunkBytes);
  for (let offset = begun.offset; offset < zip.size;) {
    ctx.signal.throwIfAborted();
    const length = Math.min(chunkBytes, zip.size - offset);
    let read = 0;
    while (read < length) {
      const n = await file.read(buffer.subarray(read, length));
      if (n === null) throw new Error(`Cannot read ${zip.path}: it ended at ${offset + read}`);
      read += n;
    }
    check(
      await send(ctx, {
        command: "upload_chunk",
        params: {
          upload_id: zip.sha256,
          offset,
          data: buffer.subarray(0, length).toBase64(),
        },
      }),
    );
    offset += length;
    onProgress(offset);
  }
  const outcome = check(await later);
  return (outcome.data as { version: number }).version;
}

/** One kept version, as `versions` lists it. */
export interface KeptVersion {
  version: number;
  sha256: string | null;
  status: "good" | "failed" | "candidate";
  reason: string | null;
}

/** The kept versions and the current one; undefined from an agent without `versions`. */
export async function versions(
  ctx: ApplyContext,
): Promise<{ versions: KeptVersion[]; current: number } | undefined> {
  const reply = await ctx.bridge.request({ command: "versions" }).reply;
  if (reply.status !== "success") return undefined;
  return reply.data as { versions: KeptVersion[]; current: number };
}

/** Makes a kept version current and starts it; false when the agent refused. */
export async function activate(ctx: ApplyContext, version: number): Promise<boolean> {
  const reply = await send(ctx, { command: "activate", params: { version } });
  if (reply.status === "success") return true;
  if (reply.code === "BUSY") throw new RetryLater(reply.code, reply.message ?? "busy");
  log.info("activate {version} refused: {message}", { version, message: reply.message });
  return false;
}

/** Starts the current version; a refusal is a failure of that version. */
export async function start(ctx: ApplyContext): Promise<void> {
  check(await send(ctx, { command: "start" }));
}

/**
 * Watches the started `version` for `probationS`; throws {@linkcode DeployFailed} when
 * it exits, fails, or is replaced.
 */
export async function probation(ctx: ApplyContext, version: number): Promise<void> {
  const deadline = Date.now() + ctx.probationS * 1000;
  do {
    const now = await projectState(ctx);
    if (now.version !== version) {
      throw new DeployFailed(
        "START_FAILED",
        `Version ${version} was replaced by version ${now.version} during probation`,
      );
    }
    if (now.state === "exited" || now.state === "failed") {
      throw new DeployFailed("START_FAILED", `Version ${version} ${now.state} in probation`);
    }
    if (!await sleep(Math.min(250, Math.max(0, deadline - Date.now())), ctx.signal)) {
      ctx.signal.throwIfAborted();
    }
  } while (Date.now() < deadline);
  await verdict(ctx, version);
}

/** Waits (at most 5 s) for the worker's lifecycle to call `version` good or failed. */
async function verdict(ctx: ApplyContext, version: number): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const kept = (await versions(ctx))?.versions.find((v) => v.version === version);
    if (!kept || kept.status === "good") return;
    if (kept.status === "failed") {
      throw new DeployFailed("START_FAILED", `Version ${version} failed: ${kept.reason}`);
    }
    await sleep(100, ctx.signal);
    ctx.signal.throwIfAborted();
  }
}

/**
 * Brings the last good version back after `failed` failed; resolves with the version
 * running now. `redeploy` deploys the last good zip again when the worker's rollback
 * lands elsewhere (it is undefined when that zip is not kept).
 */
export async function rollBack(
  ctx: ApplyContext,
  options: {
    failed: number;
    good: number | undefined;
    redeploy: (() => Promise<number>) | undefined;
  },
): Promise<number> {
  if (ctx.autoRollback) {
    // The worker's own lifecycle replaces a failed candidate; give it a moment.
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline) {
      const now = await projectState(ctx);
      if (now.version !== options.failed && now.version !== null) return now.version;
      await sleep(100, ctx.signal);
    }
  }
  let now = (await projectState(ctx)).version;
  if (now === options.failed && options.good !== undefined && await activate(ctx, options.good)) {
    now = options.good;
  }
  if (now === options.failed) {
    const reply = await send(ctx, { command: "rollback" });
    if (reply.status === "success") now = (reply.data as { version: number }).version;
    else log.warn("rollback refused: {message}", { message: reply.message });
  }
  if (options.good !== undefined && now !== options.good && options.redeploy) {
    log.info("Rollback landed on version {now}; deploying the last good zip again", { now });
    return await options.redeploy();
  }
  if (now === null || now === options.failed) {
    throw new DeployFailed("NO_PREVIOUS_VERSION", "Cannot roll back: no earlier version");
  }
  return now;
}
