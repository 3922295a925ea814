/**
 * `status`: the agent, the gateway, the worker and the project, in one reply.
 *
 * @module
 */
import type { CommandContext } from "./_context.ts";
import { reply, type ServerMessage } from "./_replies.ts";

/** `status`: the worker's own report, completed with what the gateway knows. */
export async function status(ctx: CommandContext): Promise<ServerMessage | undefined> {
  const { link, clients, calls, version, startedAt } = ctx.services;
  const res = await link.request("status", {});
  const worker = res.ok ? res.data : undefined;
  const data = {
    ...(worker ?? { worker_error: res.message }),
    agent: { version, uptime_s: (Date.now() - startedAt) / 1000 },
    // Counted here, not in the worker: a worker restart does not reset them.
    calls: calls.counters,
    gateway: {
      ...clients.counters,
      calls_in_flight: calls.inFlight,
      session: ctx.connection.session ?? null,
      you: { identity: ctx.identity.name, role: ctx.connection.role },
      estop: calls.estop ?? null,
      connections: clients.list(),
    },
    worker: { ...worker?.worker, pid: link.pid, restarts: link.restarts, state: link.state },
  };
  return reply("success", "Status", { id: ctx.id, data });
}
