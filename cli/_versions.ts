/**
 * `robot-agent versions` and `robot-agent activate N`: the kept versions with their status,
 * and starting one of them.
 *
 * @module
 */
import type { VersionInfo } from "../ipc/mod.ts";
import { type CliCommand, CliError, ExitCode } from "./_command.ts";
import { CONNECT_HELP, parseFlags, withRobot } from "./_connect.ts";
import { printJson } from "./_format.ts";

const VERSIONS_USAGE = `Usage: robot-agent versions [options]

Lists the kept versions: number, when deployed, type, status (good: started, ready and
through its probation; failed, and why; candidate: not yet proven) and the zip's sha256.
The current one is marked *. Connects as an observer.

${CONNECT_HELP}
`;

const ACTIVATE_USAGE = `Usage: robot-agent activate VERSION [options]

Makes a kept version current and starts it (0 is the built-in simulated robot).

${CONNECT_HELP}
`;

/** The line `versions` prints for one version. */
export function formatVersion(version: VersionInfo, current: number): string {
  const mark = version.version === current ? "*" : " ";
  const when = version.deployed_at
    ? version.deployed_at.slice(0, 19).replace("T", " ")
    : "built in";
  const sha = version.sha256 ? version.sha256.slice(0, 12) : "";
  const why = version.reason ? `  (${version.reason})` : "";
  return `${mark} ${String(version.version).padStart(4)}  ${when.padEnd(19)}  ${
    version.type.padEnd(6)
  }  ${version.status.padEnd(9)} ${sha}${why}`;
}

/** The `versions` command. */
export const versionsCommand: CliCommand = {
  name: "versions",
  summary: "list the kept versions with their status (good, failed, candidate)",
  usage: VERSIONS_USAGE,
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, {}, VERSIONS_USAGE);
    if (positionals.length > 0) {
      throw new CliError(`versions takes no arguments\n\n${VERSIONS_USAGE}`);
    }
    return await withRobot(ctx, values, async (robot) => {
      const data = await robot.request("versions", {}) as {
        versions: VersionInfo[];
        current: number;
      };
      if (values.json) printJson(ctx, data);
      else for (const version of data.versions) ctx.out(formatVersion(version, data.current));
      return ExitCode.OK;
    }, { observe: true });
  },
};

/** The `activate` command. */
export const activateCommand: CliCommand = {
  name: "activate",
  summary: "make a kept version current and start it",
  usage: ACTIVATE_USAGE,
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, {}, ACTIVATE_USAGE);
    const version = Number(positionals[0]);
    if (positionals.length !== 1 || !Number.isSafeInteger(version) || version < 0) {
      throw new CliError(`activate needs one VERSION number\n\n${ACTIVATE_USAGE}`);
    }
    return await withRobot(ctx, values, async (robot) => {
      const data = await robot.request("activate", { version }) as Record<string, unknown>;
      if (values.json) printJson(ctx, data);
      else ctx.out(`Version ${data.version} is current and started (was ${data.activated_from})`);
      return ExitCode.OK;
    });
  },
};
