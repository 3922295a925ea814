/**
 * The shape of one subcommand of the `robot-agent` program, and what it is given.
 *
 * @module
 */

/** Exit codes every subcommand uses (README lists them). */
export const ExitCode = {
  /** Done. */
  OK: 0,
  /** The agent answered with an error, or the work failed at run time. */
  FAILURE: 1,
  /** Bad usage: unknown flag, missing argument, invalid configuration. */
  USAGE: 2,
  /** The agent could not be reached, or refused the credentials. */
  UNREACHABLE: 3,
} as const;

/** Where a subcommand writes, and what it may read of its surroundings. */
export interface CliContext {
  /** The program's version. */
  readonly version: string;
  /** Writes a line to standard output. */
  out(text: string): void;
  /** Writes a line to standard error. */
  err(text: string): void;
  /** Reads an environment variable. */
  env(name: string): string | undefined;
  /** Whether standard output is a terminal (progress bars, colour). */
  readonly interactive: boolean;
}

/** One subcommand: `robot-agent NAME [args…]`. */
export interface CliCommand {
  /** The word that selects it. */
  readonly name: string;
  /** One line for the list of commands. */
  readonly summary: string;
  /** Its `--help` text: usage line, then options. */
  readonly usage: string;
  /** Runs it; resolves with the exit code. */
  run(ctx: CliContext, args: string[]): Promise<number>;
}

/** A failure to report in one line, with the exit code to end on. */
export class CliError extends Error {
  /** The process's exit code. */
  readonly exitCode: number;

  /** Creates the error; `exitCode` defaults to bad usage. */
  constructor(message: string, exitCode: number = ExitCode.USAGE) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}
