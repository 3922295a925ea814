/**
 * Test and benchmark support for the fleet mode: a broker and agents that dial out to
 * it, the `fleet` command line run as a real process, and waiting on status records.
 *
 * @module
 */
import { join } from "node:path";
import type { FleetClient, RobotRecord } from "../fleet/mod.ts";
import { type Agent, startAgent, type StartAgentOptions } from "./_agent.ts";

const ROOT = new URL("..", import.meta.url).pathname;

/** One robot of a test fleet. */
export interface RobotSpec {
  id: string;
  labels?: Record<string, string>;
  /** More YAML for its `fleet:` section (indented two spaces). */
  fleet?: string;
  /** More top-level YAML. */
  config?: string;
  /** Seconds between status records (1). */
  heartbeatS?: number;
  /** Seconds the fleet keeps control when idle (2). */
  controlIdleS?: number;
  /** `lifecycle.probation_s` (1). */
  probationS?: number;
}

/** The configuration of an agent in a test fleet: quick heartbeats, a 1 s probation. */
export function fleetConfig(url: string, robot: RobotSpec): string {
  const labels = Object.entries(robot.labels ?? {}).map(([k, v]) => `${k}: ${v}`).join(", ");
  return `lifecycle:
  probation_s: ${robot.probationS ?? 1}
fleet:
  nats_url: ${url}
  robot_id: ${robot.id}
  labels: {${labels}}
  heartbeat_s: ${robot.heartbeatS ?? 1}
  control_idle_s: ${robot.controlIdleS ?? 2}
  retry_s: 0.5
${robot.fleet ?? ""}
${robot.config ?? ""}
`;
}

/** Starts an agent that joins the fleet at `url`. */
export function startFleetAgent(
  url: string,
  robot: RobotSpec,
  options: StartAgentOptions = {},
): Promise<Agent> {
  return startAgent({ ...options, config: fleetConfig(url, robot) });
}

/** What a command-line run printed, and how it ended. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `robot-agent fleet ARGS… --nats URL` as a process. */
export async function fleetCli(url: string, args: string[]): Promise<CliRun> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--allow-all",
      `--config=${join(ROOT, "deno.json")}`,
      join(ROOT, "main.ts"),
      "fleet",
      ...args,
      "--nats",
      url,
      // A hang is a failure with output, not a stuck test.
      ...(["deploy", "rollback"].includes(args[0]) ? ["--timeout", "60"] : []),
    ],
    env: { DENO_NO_UPDATE_CHECK: "1" },
    cwd: ROOT,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/**
 * Polls the status bucket until `ready` holds for the records (at most `timeoutMs`);
 * resolves with them.
 */
export async function waitForRecords(
  fleet: FleetClient,
  ready: (records: Map<string, RobotRecord>) => boolean,
  timeoutMs = 30_000,
): Promise<Map<string, RobotRecord>> {
  const deadline = Date.now() + timeoutMs;
  let records = new Map<string, RobotRecord>();
  while (Date.now() < deadline) {
    try {
      records = new Map((await fleet.robots()).map((r) => [r.robot_id, r]));
      if (ready(records)) return records;
    } catch {
      // The broker is away (a restart test); try again.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(
    `Records never got ready: ${JSON.stringify([...records.values()].map((r) => r.fleet))}`,
  );
}

/** A Python project folder: `main.py` with `text`, and optional more files. */
export async function projectFolder(
  text: string,
  more: Record<string, Uint8Array> = {},
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "robot-agent-fleet-project-" });
  await Deno.writeTextFile(join(dir, "main.py"), text);
  for (const [name, bytes] of Object.entries(more)) await Deno.writeFile(join(dir, name), bytes);
  return dir;
}

/** The arm project of the README. */
export const ARM_PROJECT = `class Arm:
    def wave(self, times=1):
        push_message("waving", {"times": times})
        return ["wave"] * times

arm = Arm()
`;

/** A project whose init() raises: it never starts. */
export const BROKEN_PROJECT = `def init():
    raise RuntimeError("this build does not start")
`;

/** A project that starts, then crashes during its probation. */
export const CRASHING_PROJECT = `import os, threading

def init():
    threading.Timer(0.3, lambda: os._exit(3)).start()
`;
