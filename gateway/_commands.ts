/**
 * The command table: one handler per client command, and the one place that runs them.
 *
 * @module
 */
import { ErrorCode, errorMessage } from "../errors.ts";
import { logger } from "../log.ts";
import { cancel, processCall } from "./_cmd_calls.ts";
import { describe } from "./_cmd_describe.ts";
import { estop, estopRelease } from "./_cmd_estop.ts";
import { logs, unfollow } from "./_cmd_logs.ts";
import { activate, rollback, start, update, versions } from "./_cmd_project.ts";
import { takeover } from "./_cmd_session.ts";
import { status } from "./_cmd_status.ts";
import { uploadAbort, uploadBegin, uploadChunk } from "./_cmd_upload.ts";
import type { CommandContext, CommandHandler } from "./_context.ts";
import type { ClientCommand, CommandName, CommandOf } from "./_protocol.ts";
import { errorReply } from "./_replies.ts";

const log = logger("gateway", "commands");

/** Every client command's handler. */
export const COMMANDS: { readonly [K in CommandName]: CommandHandler<K> } = {
  update,
  start,
  process: processCall,
  status,
  rollback,
  cancel,
  upload_begin: uploadBegin,
  upload_chunk: uploadChunk,
  upload_abort: uploadAbort,
  takeover,
  estop,
  estop_release: estopRelease,
  logs,
  unfollow,
  describe,
  versions,
  activate,
};

/**
 * Who may send each command: the controller only (it changes the robot or its project),
 * or any connection (observers included).
 */
export const ACCESS: { readonly [K in CommandName]: "controller" | "any" } = {
  update: "controller",
  start: "controller",
  process: "controller",
  status: "any",
  rollback: "controller",
  cancel: "controller",
  upload_begin: "controller",
  upload_chunk: "controller",
  upload_abort: "controller",
  takeover: "any",
  estop: "any",
  estop_release: "controller",
  logs: "any",
  unfollow: "any",
  describe: "any",
  versions: "any",
  activate: "controller",
};

/**
 * Runs a command's handler and sends its reply. A handler that throws is answered
 * `INTERNAL` and logged; it never ends the gateway.
 */
export async function runCommand(ctx: CommandContext, command: ClientCommand): Promise<void> {
  try {
    if (ACCESS[command.command] === "controller" && ctx.connection.role !== "controller") {
      ctx.reply(errorReply(
        ErrorCode.FORBIDDEN,
        `Command ${command.command} refused: this connection observes; only the controller ` +
          "may deploy, start, call or cancel (send takeover to take control)",
        { id: ctx.id },
      ));
      return;
    }
    const handler = COMMANDS[command.command] as CommandHandler<CommandName>;
    const message = await handler(ctx, command as CommandOf<CommandName>);
    if (message) ctx.reply(message);
  } catch (error) {
    log.error("Command {command} failed: {error}", {
      command: command.command,
      error: errorMessage(error),
      stack: error instanceof Error ? error.stack : undefined,
    });
    ctx.reply(errorReply(
      ErrorCode.INTERNAL,
      `Command ${command.command} failed inside the agent: ${errorMessage(error)}`,
      { id: ctx.id },
    ));
  }
}
