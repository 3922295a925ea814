/**
 * `robot-agent start`: (re)starts the current project and prints its objects.
 *
 * @module
 */
import { type CliCommand, CliError, ExitCode } from "./_command.ts";
import { CONNECT_HELP, parseFlags, withRobot } from "./_connect.ts";
import { formatStarted, printJson } from "./_format.ts";

const USAGE = `Usage: robot-agent start [options]

Starts the current project (a running one is stopped first) and prints its version and
its objects with their methods.

${CONNECT_HELP}
`;

/** The `start` command. */
export const startCommand: CliCommand = {
  name: "start",
  summary: "(re)start the current project and print its objects",
  usage: USAGE,
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, {}, USAGE);
    if (positionals.length > 0) throw new CliError(`start takes no arguments\n\n${USAGE}`);
    return await withRobot(ctx, values, async (robot) => {
      const started = await robot.start();
      if (values.json) printJson(ctx, started);
      else for (const line of formatStarted(started)) ctx.out(line);
      return ExitCode.OK;
    });
  },
};
