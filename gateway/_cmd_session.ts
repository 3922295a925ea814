/**
 * `takeover`: an operator watching beside the controller takes control.
 *
 * @module
 */
import { ErrorCode } from "../errors.ts";
import type { CommandContext } from "./_context.ts";
import { errorReply, reply, type ServerMessage } from "./_replies.ts";

/** `takeover`: the safety stop, the old controller closed, this connection in control. */
export async function takeover(ctx: CommandContext): Promise<ServerMessage | undefined> {
  if (ctx.identity.role !== "operator") {
    return errorReply(
      ErrorCode.FORBIDDEN,
      `Cannot take over: ${ctx.identity.name} is an observer; an operator token is needed`,
      { id: ctx.id },
    );
  }
  const previous = ctx.services.clients.controller?.identity.name ?? null;
  if (!await ctx.services.lease.takeOver(ctx.connection)) {
    return errorReply(ErrorCode.BUSY, "Cannot take over: the connection closed meanwhile", {
      id: ctx.id,
    });
  }
  return reply("success", "You control the robot", {
    id: ctx.id,
    data: { identity: ctx.identity.name, previous },
  });
}
