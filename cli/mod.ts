/**
 * The `robot-agent` program's command line: `serve` (the agent itself) and the operator's
 * subcommands, one module each.
 *
 * @module
 */
export { type CliCommand, type CliContext, CliError, ExitCode } from "./_command.ts";
export { COMMANDS, runCli } from "./_registry.ts";
