/**
 * `logs` and `unfollow`: the agent's recent records and the project's output, then (with
 * `follow`) new ones as `log` events, rate-limited; observers may follow too.
 *
 * @module
 */
import type { CommandContext } from "./_context.ts";
import type { CommandOf } from "./_protocol.ts";
import { eventMessage, reply, type ServerMessage } from "./_replies.ts";

/** `logs`: recent entries in the reply; with `follow`, new ones as events from now on. */
export function logs(
  ctx: CommandContext,
  command: CommandOf<"logs">,
): Promise<ServerMessage | undefined> {
  const { logs: book, clients } = ctx.services;
  const filter = { level: command.level, source: command.source };
  const entries = book.recent(filter, command.lines);
  if (command.follow) {
    const connection = ctx.connection;
    book.follow(connection, filter, {
      send: (entry) => clients.deliver(connection, eventMessage("log", entry), "event"),
      dropped: (count) =>
        clients.deliver(connection, eventMessage("log_dropped", { dropped: count }), "event"),
      get alive() {
        return !connection.gone;
      },
    });
  }
  return Promise.resolve(reply("success", `${entries.length} log records`, {
    id: ctx.id,
    data: { entries, following: command.follow },
  }));
}

/** `unfollow`: no more `log` events for this connection. */
export function unfollow(ctx: CommandContext): Promise<ServerMessage | undefined> {
  const was = ctx.services.logs.unfollow(ctx.connection);
  return Promise.resolve(
    reply("success", was ? "Not following logs any more" : "Was not following", {
      id: ctx.id,
      data: { following: false },
    }),
  );
}
