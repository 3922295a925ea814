/**
 * The commands that run project code: `process` and `cancel`.
 *
 * @module
 */
import { ErrorCode } from "../errors.ts";
import type { CommandContext } from "./_context.ts";
import type { CommandOf } from "./_protocol.ts";
import { errorReply, reply, type ServerMessage } from "./_replies.ts";

/** `process`: ACKed or refused by the call router; the outcome comes as a callback. */
export function processCall(
  ctx: CommandContext,
  command: CommandOf<"process">,
): Promise<ServerMessage | undefined> {
  const ceiling = ctx.services.config.python.call_timeout_s;
  if (command.timeoutS !== undefined && command.timeoutS > ceiling) {
    return Promise.resolve(errorReply(
      ErrorCode.BAD_REQUEST,
      `Invalid process: params.timeout_s ${command.timeoutS} is over python.call_timeout_s (${ceiling})`,
      { id: ctx.id },
    ));
  }
  return Promise.resolve(ctx.services.calls.process({
    origin: ctx.connection,
    clientId: ctx.id,
    object: command.object,
    method: command.method,
    args: command.args,
    size: ctx.size,
    timeoutS: command.timeoutS,
    // The ACK goes out as the call is sent: no callback can come before it.
    reply: ctx.reply,
  }));
}

/** `cancel`: stops a call of this client's, held or in flight. */
export function cancel(
  ctx: CommandContext,
  command: CommandOf<"cancel">,
): Promise<ServerMessage | undefined> {
  if (ctx.services.calls.cancel(ctx.connection, command.callId)) {
    return Promise.resolve(reply("success", "Cancel requested", { id: ctx.id }));
  }
  const message = `Cannot cancel call: no call ${JSON.stringify(command.callId)} is in flight`;
  return Promise.resolve(errorReply(ErrorCode.BAD_REQUEST, message, { id: ctx.id }));
}
