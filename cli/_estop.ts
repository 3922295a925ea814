/**
 * `robot-agent estop` and `robot-agent estop-release`: the software e-stop from a shell.
 * `estop` connects as an observer, so it works whoever controls the robot.
 *
 * @module
 */
import { type CliCommand, CliError, ExitCode } from "./_command.ts";
import { CONNECT_HELP, parseFlags, withRobot } from "./_connect.ts";
import { printJson } from "./_format.ts";

const ESTOP_USAGE = `Usage: robot-agent estop [REASON] [options]

E-stops the robot: every call held or running is cancelled, the project's stop() hooks and
safety.on_disconnect run, and calls are refused ESTOPPED until estop-release. Works beside
any controller (it connects as an observer).

${CONNECT_HELP}
`;

const RELEASE_USAGE = `Usage: robot-agent estop-release [options]

Releases the e-stop; only the controller may. With --takeover, takes control first (the
safety stop runs, the current controller is closed).

Options:
  --takeover           take control from the connected controller first
${CONNECT_HELP}
`;

/** The `estop` command. */
export const estopCommand: CliCommand = {
  name: "estop",
  summary: "e-stop the robot: cancel calls, run the safety stop, refuse calls until released",
  usage: ESTOP_USAGE,
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, {}, ESTOP_USAGE);
    if (positionals.length > 1) {
      throw new CliError(`estop takes at most a REASON\n\n${ESTOP_USAGE}`);
    }
    const reason = positionals[0] ?? "e-stop from the command line";
    return await withRobot(ctx, values, async (robot) => {
      const data = await robot.request("estop", { reason });
      if (values.json) printJson(ctx, data);
      else ctx.out(`E-stopped: ${JSON.stringify(data)}`);
      return ExitCode.OK;
    }, { observe: true });
  },
};

/** The `estop-release` command. */
export const estopReleaseCommand: CliCommand = {
  name: "estop-release",
  summary: "release the e-stop (the controller only; --takeover to take control first)",
  usage: RELEASE_USAGE,
  async run(ctx, args) {
    const { values, positionals } = parseFlags(
      args,
      { takeover: { type: "boolean" } },
      RELEASE_USAGE,
    );
    if (positionals.length > 0) {
      throw new CliError(`estop-release takes no arguments\n\n${RELEASE_USAGE}`);
    }
    return await withRobot(ctx, values, async (robot) => {
      const data = await robot.request("estop_release", {});
      if (values.json) printJson(ctx, data);
      else ctx.out("E-stop released");
      return ExitCode.OK;
    }, { takeover: values.takeover === true });
  },
};
