/**
 * `robot-agent rollback`: makes the previous version current, starts it, and prints it.
 *
 * @module
 */
import { type CliCommand, CliError, ExitCode } from "./_command.ts";
import { CONNECT_HELP, parseFlags, withRobot } from "./_connect.ts";
import { formatStarted, printJson } from "./_format.ts";

const USAGE = `Usage: robot-agent rollback [options]

Makes the previously deployed version current again and starts it (from version 1, the
built-in project). Fails with NO_PREVIOUS_VERSION when there is none.

${CONNECT_HELP}
`;

/** The `rollback` command. */
export const rollbackCommand: CliCommand = {
  name: "rollback",
  summary: "go back to the previous version and start it",
  usage: USAGE,
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, {}, USAGE);
    if (positionals.length > 0) throw new CliError(`rollback takes no arguments\n\n${USAGE}`);
    return await withRobot(ctx, values, async (robot) => {
      const rolled = await robot.rollback();
      if (values.json) {
        printJson(ctx, rolled);
        return ExitCode.OK;
      }
      const reason = typeof rolled.reason === "string" ? `: ${rolled.reason}` : "";
      ctx.out(`Rolled back from version ${rolled.rolled_back_from} to ${rolled.version}${reason}`);
      for (const line of formatStarted(rolled)) ctx.out(line);
      return ExitCode.OK;
    });
  },
};
