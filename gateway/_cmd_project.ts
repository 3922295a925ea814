/**
 * The commands that change which project runs: `update`, `start` and `rollback`.
 *
 * Each holds the calls sent after it until it is answered (see the call router), so a
 * client may send update, start and its first calls in one burst.
 *
 * @module
 */
import { releaseBytes } from "../ipc/mod.ts";
import { answer, type CommandContext } from "./_context.ts";
import type { CommandOf } from "./_protocol.ts";
import type { ServerMessage } from "./_replies.ts";

/**
 * Runs a project-changing command: calls sent after it wait until its reply is sent.
 * Resolves with nothing: the reply (if `work` gave one) has gone out through `ctx.reply`.
 */
export async function holdingCalls(
  ctx: CommandContext,
  work: () => Promise<ServerMessage | undefined>,
): Promise<undefined> {
  const release = ctx.services.calls.hold();
  try {
    const message = await work();
    if (message) ctx.reply(message);
  } finally {
    release();
  }
  return undefined;
}

/** `update`: deploys a zip sent whole (base64 text or one binary message). */
export function update(
  ctx: CommandContext,
  command: CommandOf<"update">,
): Promise<ServerMessage | undefined> {
  return holdingCalls(ctx, async () => {
    const res = await ctx.services.link.request("update", {}, command.data);
    // The zip is on disk now (or refused): free it rather than wait for a GC.
    releaseBytes(command.data);
    return answer(res, ctx.id);
  });
}

/** `start`: starts the current version. */
export function start(ctx: CommandContext): Promise<ServerMessage | undefined> {
  return holdingCalls(
    ctx,
    async () => answer(await ctx.services.link.request("start", {}), ctx.id),
  );
}

/** `rollback`: makes the previous version current and starts it. */
export function rollback(ctx: CommandContext): Promise<ServerMessage | undefined> {
  return holdingCalls(
    ctx,
    async () => answer(await ctx.services.link.request("rollback", {}), ctx.id),
  );
}

/** `versions`: every kept version with its status (good, failed, candidate) and why. */
export async function versions(ctx: CommandContext): Promise<ServerMessage | undefined> {
  return answer(await ctx.services.link.request("versions", {}), ctx.id);
}

/** `activate {version}`: makes a kept version current and starts it. */
export function activate(
  ctx: CommandContext,
  command: CommandOf<"activate">,
): Promise<ServerMessage | undefined> {
  return holdingCalls(
    ctx,
    async () =>
      answer(await ctx.services.link.request("activate", { version: command.version }), ctx.id),
  );
}
