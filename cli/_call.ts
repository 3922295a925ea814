/**
 * `robot-agent call OBJECT.METHOD [NAME=VALUE …]`: calls a method of the running project
 * and prints its result; a failure prints the agent's code and exits 1. Ctrl-C cancels
 * the call.
 *
 * @module
 */
import { AgentRequestError, type RobotClient } from "../client/mod.ts";
import { type CliCommand, type CliContext, CliError, ExitCode } from "./_command.ts";
import { CONNECT_HELP, parseFlags, withRobot } from "./_connect.ts";
import { printJson } from "./_format.ts";

const USAGE = `Usage: robot-agent call OBJECT.METHOD [NAME=VALUE …] [options]

Calls OBJECT.METHOD(NAME=VALUE, …) in the running project and prints the result (a string
as it is, anything else as JSON). Each VALUE is read as JSON when it parses (3, -0.5, true,
null, [1,2], {"a":1}, "quoted") and as a string otherwise. Ctrl-C cancels the call.

Examples:
  robot-agent call sport_client.StandUp
  robot-agent call sport_client.Move vx=0.3 vy=0 vyaw=0
  robot-agent call arm.say text=hello
  robot-agent call arm.pose --args '{"joints": [0, 1.2, 0]}'

Options:
  --args JSON          the arguments as one JSON object (NAME=VALUE pairs add to it)
  --timeout SECONDS    cancel the call after this long

On failure it prints CODE: message (and a Python traceback) and exits 1.

${CONNECT_HELP}
`;

/** Reads `NAME=VALUE` words and `--args` into the call's keyword arguments. */
export function parseCallArgs(words: string[], json: string | undefined): Record<string, unknown> {
  const args: Record<string, unknown> = {};
  if (json !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch (error) {
      throw new CliError(`--args is not JSON: ${error instanceof Error ? error.message : error}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new CliError("--args must be a JSON object of keyword arguments");
    }
    Object.assign(args, parsed);
  }
  for (const word of words) {
    const at = word.indexOf("=");
    const name = word.slice(0, at);
    if (at <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new CliError(`Invalid argument ${JSON.stringify(word)}: expected NAME=VALUE`);
    }
    const text = word.slice(at + 1);
    try {
      args[name] = JSON.parse(text);
    } catch {
      args[name] = text;
    }
  }
  return args;
}

function target(word: string | undefined): { object: string; method: string } {
  const at = word?.lastIndexOf(".") ?? -1;
  if (!word || at <= 0 || at === word.length - 1) {
    throw new CliError(`call needs OBJECT.METHOD, e.g. sport_client.StandUp\n\n${USAGE}`);
  }
  return { object: word.slice(0, at), method: word.slice(at + 1) };
}

/** Prints what a failed call said: its code and message, and the Python traceback. */
function reportFailure(ctx: CliContext, label: string, error: AgentRequestError): CliError {
  const traceback = error.data.traceback;
  if (typeof traceback === "string" && traceback !== "") ctx.err(traceback.trimEnd());
  const type = typeof error.data.type === "string" ? ` (${error.data.type})` : "";
  return new CliError(`${label} failed: ${error.code}${type}: ${error.message}`, ExitCode.FAILURE);
}

async function callOnce(
  ctx: CliContext,
  robot: RobotClient,
  request: { object: string; method: string; args: Record<string, unknown>; timeoutS?: number },
  json: boolean,
): Promise<number> {
  const label = `${request.object}.${request.method}`;
  const cancel = new AbortController();
  const onInterrupt = () => cancel.abort(new CliError(`${label} cancelled`, ExitCode.FAILURE));
  Deno.addSignalListener("SIGINT", onInterrupt);
  const timer = request.timeoutS === undefined ? undefined : setTimeout(() => {
    const message = `${label} cancelled: no result within ${request.timeoutS} s`;
    cancel.abort(new CliError(message, ExitCode.FAILURE));
  }, request.timeoutS * 1000);
  try {
    const result = await robot.call(request.object, request.method, request.args, {
      signal: cancel.signal,
    });
    if (json) printJson(ctx, { result: result ?? null });
    else ctx.out(typeof result === "string" ? result : JSON.stringify(result ?? null, null, 2));
    return ExitCode.OK;
  } catch (error) {
    if (error instanceof AgentRequestError && error.command === "process" && !json) {
      throw reportFailure(ctx, label, error);
    }
    throw error;
  } finally {
    clearTimeout(timer);
    Deno.removeSignalListener("SIGINT", onInterrupt);
  }
}

/** The `call` command. */
export const callCommand: CliCommand = {
  name: "call",
  summary: "call OBJECT.METHOD with NAME=VALUE arguments and print the result",
  usage: USAGE,
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, {
      args: { type: "string" },
      timeout: { type: "string" },
    }, USAGE);
    const { object, method } = target(positionals[0]);
    const callArgs = parseCallArgs(positionals.slice(1), values.args);
    const timeoutS = values.timeout === undefined ? undefined : Number(values.timeout);
    if (timeoutS !== undefined && !(timeoutS > 0)) {
      throw new CliError("--timeout must be a number of seconds above 0");
    }
    return await withRobot(
      ctx,
      values,
      (robot) =>
        callOnce(ctx, robot, { object, method, args: callArgs, timeoutS }, values.json ?? false),
    );
  },
};
