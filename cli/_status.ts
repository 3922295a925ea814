/**
 * `robot-agent status`: the agent, its worker, the project and the call counters.
 *
 * @module
 */
import type { AgentStatus } from "../client/mod.ts";
import { type CliCommand, CliError, ExitCode } from "./_command.ts";
import { CONNECT_HELP, parseFlags, withRobot } from "./_connect.ts";
import { formatSeconds, plural, printJson } from "./_format.ts";

const USAGE = `Usage: robot-agent status [options]

Prints the agent's version and uptime, its worker, the current project (type, version,
state) and the call counters.

${CONNECT_HELP}
`;

/** The lines `status` prints. */
export function formatStatus(status: AgentStatus): string[] {
  const { agent, worker, project, calls } = status;
  const lines = [
    `agent    ${agent.version}, up ${formatSeconds(agent.uptime_s)}`,
    `worker   ${worker.state} (pid ${worker.pid ?? "none"}, ${plural(worker.restarts, "restart")})`,
  ];
  if (project) {
    const pid = project.pid === null ? "" : `, pid ${project.pid}`;
    const python = project.python ? `, Python ${project.python}` : "";
    const what = project.type === null ? "none" : `${project.type} version ${project.version}`;
    lines.push(`project  ${what}, ${project.state}${pid}${python}`);
  }
  if (calls) {
    lines.push(
      `calls    ${calls.accepted} accepted, ${calls.completed} completed, ` +
        `${calls.failed} failed, ${calls.in_flight} in flight`,
    );
  }
  return lines;
}

/** The `status` command. */
export const statusCommand: CliCommand = {
  name: "status",
  summary: "print the agent's, worker's and project's state",
  usage: USAGE,
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, {}, USAGE);
    if (positionals.length > 0) throw new CliError(`status takes no arguments\n\n${USAGE}`);
    return await withRobot(ctx, values, async (robot) => {
      const status = await robot.status();
      if (values.json) printJson(ctx, status);
      else for (const line of formatStatus(status)) ctx.out(line);
      return ExitCode.OK;
    });
  },
};
