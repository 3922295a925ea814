/**
 * Where the operator's subcommands connect, and how their failures end the program.
 *
 * The agent is `--url` (with `--token`), or `--robot NAME` from `robots.yaml`, or
 * `ROBOT_AGENT_URL` (with `ROBOT_AGENT_TOKEN`), or the file's `default`, or the agent on
 * this machine.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parse as parseYaml } from "yaml";
import { AgentConnectionError, AgentRequestError, RobotClient } from "../client/mod.ts";
import { joinPath as join } from "../paths.ts";
import { type CliContext, CliError, ExitCode } from "./_command.ts";
import { printJson } from "./_format.ts";

/** The flags every subcommand that talks to an agent takes. */
export const CONNECT_OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  robot: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean" },
} as const;

/** The `--help` section of {@linkcode CONNECT_OPTIONS}. */
export const CONNECT_HELP = `Connection:
  --url URL            the agent: ws://HOST:8000/ws, or HOST[:PORT] (env ROBOT_AGENT_URL)
  --token TOKEN        its access token (env ROBOT_AGENT_TOKEN)
  --robot NAME         a robot named in ~/.config/robot-agent/robots.yaml
  --json               print JSON for scripts (errors too: {"error": {"code", "message"}})
  --help               print this help

Without --url or --robot: ROBOT_AGENT_URL, else the "default" robot of robots.yaml, else
ws://127.0.0.1:8000/ws. Exit codes: 0 done, 1 the agent answered an error, 2 bad usage,
3 agent unreachable or credentials refused.`;

/** The connection flags, as parsed. */
export interface ConnectFlags {
  url?: string;
  token?: string;
  robot?: string;
  json?: boolean;
}

/** A subcommand's own flags, as `node:util`'s `parseArgs` takes them. */
export type OptionSpec = Record<string, { type: "string" | "boolean" }>;

/** The parsed values of `O` and of the connection flags. */
export type FlagValues<O extends OptionSpec> =
  & { [K in keyof O]?: O[K] extends { type: "boolean" } ? boolean : string }
  & ConnectFlags;

/**
 * Parses a subcommand's arguments: its own `options` and the connection flags.
 *
 * @throws {CliError} with the usage text for an unknown or malformed flag.
 */
export function parseFlags<O extends OptionSpec>(
  args: string[],
  options: O,
  usage: string,
): { values: FlagValues<O>; positionals: string[] } {
  try {
    return parseArgs({
      args,
      options: { ...CONNECT_OPTIONS, ...options },
      strict: true,
      allowPositionals: true,
    }) as { values: FlagValues<O>; positionals: string[] };
  } catch (error) {
    throw new CliError(`${error instanceof Error ? error.message : error}\n\n${usage}`);
  }
}

/** Where to connect, and with which token. */
export interface Target {
  url: string;
  token?: string;
}

interface RobotEntry {
  url: string;
  token?: string;
}

/** The robots file: `$XDG_CONFIG_HOME/robot-agent/robots.yaml`, else under `~/.config`. */
export function robotsFile(ctx: CliContext): string {
  const base = ctx.env("XDG_CONFIG_HOME") || join(ctx.env("HOME") ?? "/", ".config");
  return join(base, "robot-agent", "robots.yaml");
}

/** Reads the robots file: its robots, and its default; undefined when there is none. */
async function readRobots(
  ctx: CliContext,
): Promise<{ file: string; robots: Record<string, RobotEntry>; fallback?: string } | undefined> {
  const file = robotsFile(ctx);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new CliError(`Cannot read ${file}: ${error instanceof Error ? error.message : error}`);
  }
  let parsed: { default?: unknown; robots?: unknown };
  try {
    parsed = (parseYaml(text) ?? {}) as typeof parsed;
  } catch (error) {
    throw new CliError(`Invalid ${file}: ${error instanceof Error ? error.message : error}`);
  }
  const robots: Record<string, RobotEntry> = {};
  for (const [name, entry] of Object.entries(parsed.robots ?? {})) {
    const { url, token } = (entry ?? {}) as Record<string, unknown>;
    if (typeof url !== "string" || (token !== undefined && typeof token !== "string")) {
      throw new CliError(`Invalid ${file}: robots.${name} needs a url (and an optional token)`);
    }
    robots[name] = { url, token: token as string | undefined };
  }
  if (Object.values(robots).some((r) => r.token)) await warnIfShared(ctx, file);
  const fallback = typeof parsed.default === "string" ? parsed.default : undefined;
  return { file, robots, fallback };
}

async function warnIfShared(ctx: CliContext, file: string): Promise<void> {
  const mode = (await Deno.stat(file)).mode;
  if (mode !== null && (mode & 0o077) !== 0) {
    ctx.err(`robot-agent: warning: ${file} holds tokens and others can read it; chmod 600 it`);
  }
}

/**
 * Resolves the connection flags into a URL and token.
 *
 * @throws {CliError} for a `--robot` the robots file does not name.
 */
export async function resolveTarget(ctx: CliContext, flags: ConnectFlags): Promise<Target> {
  const envToken = ctx.env("ROBOT_AGENT_TOKEN") || undefined;
  if (flags.url) return { url: flags.url, token: flags.token ?? envToken };
  const envUrl = ctx.env("ROBOT_AGENT_URL") || undefined;
  if (!flags.robot && envUrl) return { url: envUrl, token: flags.token ?? envToken };
  const file = await readRobots(ctx);
  const name = flags.robot ?? file?.fallback;
  if (name === undefined) {
    return { url: "ws://127.0.0.1:8000/ws", token: flags.token ?? envToken };
  }
  const entry = file?.robots[name];
  if (!entry) {
    const known = Object.keys(file?.robots ?? {}).join(", ") || "none";
    const where = file?.file ?? robotsFile(ctx);
    throw new CliError(`Unknown robot ${JSON.stringify(name)}: ${where} names ${known}`);
  }
  return { url: entry.url, token: flags.token ?? entry.token ?? envToken };
}

/**
 * The failure `error` stands for: an agent's error (exit 1, its code first), no agent
 * (exit 3), a bad address (exit 2). Anything else is a bug, rethrown.
 */
export function asCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof AgentRequestError) {
    return new CliError(`${error.code}: ${error.message}`, ExitCode.FAILURE);
  }
  if (error instanceof AgentConnectionError) {
    return new CliError(`${error.code}: ${error.message}`, ExitCode.UNREACHABLE);
  }
  if (error instanceof TypeError && error.message.startsWith("Invalid agent address")) {
    return new CliError(error.message);
  }
  throw error;
}

/** The `--json` form of a failure. */
function errorJson(error: unknown): { code: string; message: string; data?: unknown } {
  if (error instanceof AgentRequestError) {
    return { code: error.code, message: error.message, data: error.data };
  }
  if (error instanceof AgentConnectionError) return { code: error.code, message: error.message };
  const exit = error instanceof CliError ? error.exitCode : ExitCode.FAILURE;
  const message = error instanceof Error ? error.message : String(error);
  return { code: exit === ExitCode.USAGE ? "USAGE" : "FAILED", message };
}

/**
 * Connects as the flags say, runs `work` with the client, and closes it. A failure is
 * turned into its exit code (and printed as JSON with `--json`).
 */
export async function withRobot(
  ctx: CliContext,
  flags: ConnectFlags,
  work: (robot: RobotClient) => Promise<number>,
  options: { observe?: boolean; takeover?: boolean } = {},
): Promise<number> {
  let robot: RobotClient | undefined;
  try {
    const target = await resolveTarget(ctx, flags);
    // An observer connects beside the controller (status, logs, describe, estop); a
    // takeover asks for its slot.
    const query = options.observe ? "observe=1" : options.takeover ? "takeover=1" : "";
    const url = query ? `${target.url}${target.url.includes("?") ? "&" : "?"}${query}` : target.url;
    robot = await RobotClient.connect(url, { token: target.token });
    return await work(robot);
  } catch (error) {
    const failure = asCliError(error);
    if (flags.json) {
      printJson(ctx, { error: errorJson(error instanceof CliError ? failure : error) });
    }
    throw failure;
  } finally {
    await robot?.close();
  }
}
