/**
 * The chunked upload: `upload_begin`, then chunks (binary messages or `upload_chunk`).
 *
 * Chunks go to the worker in slices of at most {@linkcode IPC_SLICE_BYTES}, so an urgent
 * message (a robot command) waits behind at most one slice, never a whole chunk. The
 * deploy's outcome is the reply to `upload_begin`; the chunk that completes the upload
 * holds the calls sent after it, as `update` does.
 *
 * @module
 */
import { ErrorCode } from "../errors.ts";
import { type OpData, releaseBytes, type ReplyMessage } from "../ipc/mod.ts";
import { holdingCalls } from "./_cmd_project.ts";
import { answer, type CommandContext } from "./_context.ts";
import type { CommandOf } from "./_protocol.ts";
import { errorReply, reply, type ServerMessage } from "./_replies.ts";

/** The largest piece of an upload chunk sent to the worker in one IPC frame. */
export const IPC_SLICE_BYTES = 256 * 1024;

/** `upload_begin`: opens (or resumes) an upload; the reply says where it stands. */
export async function uploadBegin(
  ctx: CommandContext,
  command: CommandOf<"upload_begin">,
): Promise<ServerMessage | undefined> {
  const { link, uploads, config } = ctx.services;
  const res = await link.request("upload_begin", { size: command.size, sha256: command.sha256 });
  if (!res.ok) return answer(res, ctx.id);
  uploads.set(command.sha256, { id: ctx.id, origin: ctx.connection, size: command.size });
  const data = { ...res.data, max_chunk_bytes: config.upload.max_chunk_bytes };
  return reply("success", res.message, { id: ctx.id, data });
}

/** Sends a chunk's slices; resolves with the first failure or the last slice's reply. */
async function storeChunk(
  ctx: CommandContext,
  command: CommandOf<"upload_chunk">,
): Promise<ReplyMessage<"upload_chunk">> {
  const slices: Promise<ReplyMessage<"upload_chunk">>[] = [];
  const count = Math.max(1, Math.ceil(command.data.length / IPC_SLICE_BYTES));
  for (let i = 0; i < count; i++) {
    const at = i * IPC_SLICE_BYTES;
    const params = { upload_id: command.uploadId, offset: command.offset + at };
    const body = command.data.subarray(at, at + IPC_SLICE_BYTES);
    slices.push(ctx.services.link.request("upload_chunk", params, body));
  }
  const replies = await Promise.all(slices);
  // The worker has stored every slice: free the chunk rather than wait for a GC.
  releaseBytes(command.data);
  return replies.find((r) => !r.ok) ?? replies.at(-1)!;
}

/** The replies once the upload is complete: its outcome goes to whoever began it. */
function finish(
  ctx: CommandContext,
  command: CommandOf<"upload_chunk">,
  res: ReplyMessage<"upload_chunk">,
): ServerMessage | undefined {
  const { uploads, clients } = ctx.services;
  const begin = uploads.get(command.uploadId) ?? { id: undefined, origin: ctx.connection };
  uploads.delete(command.uploadId);
  const data = res.data ?? {};
  const outcome = res.ok
    ? reply("success", res.message, { id: begin.id, data })
    : reply("error", res.message, { id: begin.id, code: res.code, data });
  clients.deliver(begin.origin, outcome, "result");
  return ctx.text ? reply("success", "Chunk stored", { id: ctx.id, data }) : undefined;
}

function isComplete(res: ReplyMessage<"upload_chunk">): boolean {
  const data: Partial<OpData<"upload_chunk">> | undefined = res.data;
  return data?.complete === true;
}

/** A chunk: stored, then progress (an event for a binary chunk) or the deploy's outcome. */
export function uploadChunk(
  ctx: CommandContext,
  command: CommandOf<"upload_chunk">,
): Promise<ServerMessage | undefined> {
  const max = ctx.services.config.upload.max_chunk_bytes;
  if (command.data.length > max) {
    const message = "Chunk refused: larger than upload.max_chunk_bytes";
    return Promise.resolve(errorReply(ErrorCode.UPLOAD_ERROR, message, { id: ctx.id }));
  }
  const route = ctx.services.uploads.get(command.uploadId);
  const last = route !== undefined && command.offset + command.data.length === route.size;
  const handle = async (): Promise<ServerMessage | undefined> => {
    const res = await storeChunk(ctx, command);
    if (isComplete(res)) return finish(ctx, command, res);
    if (res.ok && !ctx.text) {
      ctx.notify("upload_progress", res.data);
      return undefined;
    }
    return answer(res, ctx.id);
  };
  return last ? holdingCalls(ctx, handle) : handle();
}

/** `upload_abort`: forgets an upload in progress and removes its partial file. */
export async function uploadAbort(
  ctx: CommandContext,
  command: CommandOf<"upload_abort">,
): Promise<ServerMessage | undefined> {
  const res = await ctx.services.link.request("upload_abort", { upload_id: command.uploadId });
  if (res.ok) ctx.services.uploads.delete(command.uploadId);
  return answer(res, ctx.id);
}
