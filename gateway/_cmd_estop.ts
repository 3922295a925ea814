/**
 * `estop` and `estop_release`: the software e-stop. Any connection may press it (an
 * observer too, as anyone near a physical button could); only the controller releases it.
 *
 * @module
 */
import { ErrorCode } from "../errors.ts";
import { logger } from "../log.ts";
import type { CommandContext } from "./_context.ts";
import type { CommandOf } from "./_protocol.ts";
import { errorReply, eventMessage, reply, type ServerMessage } from "./_replies.ts";

const log = logger("gateway", "estop");

/**
 * `estop`: calls are refused `ESTOPPED` from now on, held and running calls are cancelled,
 * and the safety stop runs on the urgent lane; the reply comes once it is done.
 */
export async function estop(
  ctx: CommandContext,
  command: CommandOf<"estop">,
): Promise<ServerMessage | undefined> {
  const { calls, safety, clients } = ctx.services;
  const began = performance.now();
  const at = new Date().toISOString();
  const by = ctx.identity.name;
  const already = calls.estop !== undefined;
  const cancelled = calls.engageEstop({ by, reason: command.reason, at });
  log.warn("E-stop by {by} ({reason}): {cancelled} calls cancelled", {
    by,
    reason: command.reason,
    cancelled,
  });
  clients.broadcast(eventMessage("estop", { by, reason: command.reason, at, cancelled }));
  await safety.run(`e-stop by ${by}: ${command.reason}`);
  const ms = Math.round((performance.now() - began) * 10) / 10;
  return reply("success", already ? "E-stopped (it was already)" : "E-stopped", {
    id: ctx.id,
    data: { by, reason: command.reason, at, cancelled, safety_stop_ms: ms },
  });
}

/** `estop_release`: calls are taken again (the controller only). */
export function estopRelease(ctx: CommandContext): Promise<ServerMessage | undefined> {
  const { calls, clients } = ctx.services;
  const state = calls.estop;
  if (!state) {
    return Promise.resolve(
      errorReply(ErrorCode.BAD_REQUEST, "Cannot release: the robot is not e-stopped", {
        id: ctx.id,
      }),
    );
  }
  calls.releaseEstop();
  log.info("E-stop released by {by}", { by: ctx.identity.name });
  clients.broadcast(eventMessage("estop_released", { by: ctx.identity.name, estop: state }));
  return Promise.resolve(reply("success", "E-stop released", {
    id: ctx.id,
    data: { by: ctx.identity.name, estop: state },
  }));
}
