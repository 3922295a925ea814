/**
 * `describe`: what the running project's objects offer — each public method's parameters
 * (with types as JSON Schema where they map), return annotation, whether it is async, and
 * its docstring's summary — and a hash that changes with the interface and the version.
 *
 * @module
 */
import { ErrorCode } from "../errors.ts";
import type { CommandContext } from "./_context.ts";
import type { CommandOf } from "./_protocol.ts";
import { errorReply, reply, type ServerMessage } from "./_replies.ts";

async function hashOf(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return new Uint8Array(digest).toHex();
}

/** `describe [object]`: from the table the worker published for the running version. */
export async function describe(
  ctx: CommandContext,
  command: CommandOf<"describe">,
): Promise<ServerMessage | undefined> {
  const table = ctx.services.calls.table;
  if (!table) {
    return errorReply(ErrorCode.NOT_STARTED, "Cannot describe: no project is started", {
      id: ctx.id,
    });
  }
  const described = table.describe?.objects ?? Object.fromEntries(
    Object.entries(table.objects).map(([name, methods]) => [name, {
      doc: null,
      class: false,
      methods: Object.fromEntries(methods.map((m) => [m, {
        params: null,
        returns: null,
        async: false,
        doc: null,
      }])),
    }]),
  );
  if (command.object !== undefined && !Object.hasOwn(described, command.object)) {
    const known = Object.keys(described).join(", ") || "none";
    return errorReply(
      ErrorCode.UNKNOWN_OBJECT,
      `Cannot describe: the project has no object ${
        JSON.stringify(command.object)
      } (objects: ${known})`,
      { id: ctx.id },
    );
  }
  const objects = command.object === undefined
    ? described
    : { [command.object]: described[command.object] };
  const hash = await hashOf(
    `${table.version}:${table.describe?.hash ?? JSON.stringify(table.objects)}`,
  );
  return reply("success", `${Object.keys(objects).length} objects`, {
    id: ctx.id,
    data: { type: table.type, version: table.version, hash, objects },
  });
}
