/**
 * What the `fleet` commands share: their usage text and flags, selectors and timeouts read
 * from them, the fleet's module loaded on first use, and a robot's state in one line.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { RobotRecord, Selector } from "../fleet/mod.ts";
import { CliError } from "./_command.ts";

/** The `fleet --help` text. */
export const FLEET_USAGE = `Usage: robot-agent fleet COMMAND [options]

Drives many robots through a NATS broker: each agent with fleet.nats_url set dials out
to it (docs/fleet.md).

Commands:
  ls [--label K=V …]                   the robots: online, labels, project, convergence
  status [SELECTOR]                    where each robot's convergence stands
  deploy PATH --robots SELECTOR        upload a folder or zip once, make it the desired
                                       state of SELECTOR, follow it robot by robot
  call SELECTOR OBJECT.METHOD [N=V …]  call a method on each robot, one result each
  rollback SELECTOR                    set SELECTOR back to the zip it had before, follow it
  init [--replicas N]                  make the buckets (3 replicas on a 3-node cluster)
  keys ROBOT… --out DIR                an nkey per robot and the operator, and the broker's
                                       accounts.conf: each robot its own subjects only

SELECTOR: all, id=ROBOT, or K=V[,K2=V2] (labels). A robot follows its own key first,
then the selector with the most labels, then all.

Options:
  --takeover           (deploy, call, rollback) take control from a local operator
                       (the safety stop runs first); without it such a robot waits (deploy)
                       or answers BUSY (call)
  --timeout SECONDS    (deploy, rollback: 600) wait this long for convergence;
                       (call: 30) for each robot's result
  --no-wait            (deploy, rollback) set the desired state and return
  --args JSON          (call) the arguments as one JSON object

Broker:
  --nats URL           nats://HOST:4222, comma-separated for a cluster
                       (env ROBOT_AGENT_NATS_URL; default nats://127.0.0.1:4222)
  --creds FILE         a .creds file (env ROBOT_AGENT_NATS_CREDS)
  --nkey FILE          an nkey seed file (env ROBOT_AGENT_NATS_NKEY)
  --token TOKEN        a token (env ROBOT_AGENT_NATS_TOKEN)
  --prefix P           subject prefix (robot-agent); buckets P-status, P-desired, P-projects
  --json               print JSON for scripts
  --help               print this help

Exit codes: 0 done, 1 a robot failed (or did not converge in time), 2 bad usage, 3 the
broker is unreachable or refused the credentials.`;

/** The flags of every fleet command. */
const OPTIONS = {
  nats: { type: "string" },
  creds: { type: "string" },
  nkey: { type: "string" },
  token: { type: "string" },
  prefix: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean" },
  label: { type: "string", multiple: true },
  robots: { type: "string" },
  takeover: { type: "boolean" },
  timeout: { type: "string" },
  "no-wait": { type: "boolean" },
  args: { type: "string" },
  replicas: { type: "string" },
  out: { type: "string" },
} as const;

/** The parsed flags of a fleet command. */
export interface FleetFlags {
  nats?: string;
  creds?: string;
  nkey?: string;
  token?: string;
  prefix?: string;
  json?: boolean;
  label?: string[];
  robots?: string;
  takeover?: boolean;
  timeout?: string;
  "no-wait"?: boolean;
  args?: string;
  replicas?: string;
  out?: string;
}

/** The fleet's module, loaded on first use. */
export function loadFleet(): Promise<typeof import("../fleet/mod.ts")> {
  return import("../fleet/mod.ts");
}

/** Reads a selector, as a usage error when it is malformed. */
export async function selectorOf(text: string | undefined, what: string): Promise<Selector> {
  if (text === undefined) throw new CliError(`${what} needs a SELECTOR\n\n${FLEET_USAGE}`);
  const { parseSelector } = await loadFleet();
  try {
    return parseSelector(text);
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error));
  }
}

/** Reads `--timeout`, or `fallback` seconds. */
export function timeoutOf(flags: FleetFlags, fallback: number): number {
  if (flags.timeout === undefined) return fallback;
  const seconds = Number(flags.timeout);
  if (!(seconds > 0)) throw new CliError("--timeout must be a number of seconds above 0");
  return seconds;
}

/** One line of where a robot's convergence stands. */
export function describeRecord(record: RobotRecord): string {
  const fleet = record.fleet;
  const what = fleet.name ? ` ${fleet.name} (${fleet.sha256?.slice(0, 12)})` : "";
  const version = fleet.version === undefined ? "" : ` version ${fleet.version}`;
  const progress = fleet.progress
    ? ` ${Math.floor((fleet.progress.received / fleet.progress.size) * 100)}%`
    : "";
  const back = fleet.rolled_back_to === undefined ? "" : `; version ${fleet.rolled_back_to} runs`;
  const error = fleet.error ? `: ${fleet.error.code}: ${fleet.error.message}` : "";
  return `${fleet.state}${progress}${what}${version}${back}${error}`;
}

/** Parses a fleet command's arguments (after its subcommand). */
export function parseFleetArgs(args: string[]): { values: FleetFlags; positionals: string[] } {
  try {
    return parseArgs({ args, options: OPTIONS, strict: true, allowPositionals: true });
  } catch (error) {
    throw new CliError(`${error instanceof Error ? error.message : error}\n\n${FLEET_USAGE}`);
  }
}
