/**
 * The subcommands, one small module each, and the dispatcher that picks one.
 *
 * @module
 */
import { callCommand } from "./_call.ts";
import { type CliCommand, type CliContext, CliError, ExitCode } from "./_command.ts";
import { deployCommand } from "./_deploy.ts";
import { describeCommand } from "./_describe.ts";
import { estopCommand, estopReleaseCommand } from "./_estop.ts";
import { fleetCommand } from "./_fleet.ts";
import { installCommand } from "./_install.ts";
import { logsCommand } from "./_logs.ts";
import { rollbackCommand } from "./_rollback.ts";
import { serveCommand } from "./_serve.ts";
import { startCommand } from "./_start.ts";
import { statusCommand } from "./_status.ts";
import { tokenCommand } from "./_token.ts";
import { activateCommand, versionsCommand } from "./_versions.ts";

/** Every subcommand, in the order `--help` lists them. */
export const COMMANDS: readonly CliCommand[] = [
  serveCommand,
  deployCommand,
  startCommand,
  callCommand,
  statusCommand,
  describeCommand,
  logsCommand,
  estopCommand,
  estopReleaseCommand,
  rollbackCommand,
  versionsCommand,
  activateCommand,
  fleetCommand,
  tokenCommand,
  installCommand,
];

function overview(version: string): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `robot-agent ${version}

Usage: robot-agent [COMMAND] [options]

Commands:
${lines.join("\n")}

With no command, or options only, it serves (robot-agent serve). Every command takes --help.
Exit codes: 0 done, 1 failed (the agent answered an error), 2 bad usage, 3 agent unreachable.
`;
}

/**
 * Runs `robot-agent ARGS…`: the command named first, or `serve` when the first word is an
 * option or absent. Resolves with the exit code; a {@linkcode CliError} becomes its message
 * on stderr and its code.
 */
export async function runCli(ctx: CliContext, argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === "--help" || first === "-h" || first === "help") {
    ctx.out(overview(ctx.version));
    return ExitCode.OK;
  }
  const named = first !== undefined && !first.startsWith("-");
  const command = named ? COMMANDS.find((c) => c.name === first) : serveCommand;
  try {
    if (!command) {
      throw new CliError(
        `unknown command ${JSON.stringify(first)}; commands: ${
          COMMANDS.map((c) => c.name).join(", ")
        }`,
      );
    }
    const args = named ? rest : argv;
    if (args.includes("--help") && command !== serveCommand) {
      ctx.out(command.usage);
      return ExitCode.OK;
    }
    return await command.run(ctx, args);
  } catch (error) {
    if (!(error instanceof CliError)) throw error;
    ctx.err(`robot-agent: ${error.message}`);
    return error.exitCode;
  }
}
