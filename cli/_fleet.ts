/**
 * `robot-agent fleet …`: many robots through a NATS broker (docs/fleet.md). `ls`,
 * `status`, `call` and `init` are here; `deploy` and `rollback`, which follow
 * convergence robot by robot, are in `_fleet_deploy.ts`.
 *
 * The fleet's code (and the NATS packages) is loaded only when a fleet command runs.
 *
 * @module
 */
import type { FanOutResult, FleetClient, Selector } from "../fleet/mod.ts";
import { parseCallArgs } from "./_call.ts";
import { type CliCommand, type CliContext, CliError, ExitCode } from "./_command.ts";
import {
  describeRecord,
  FLEET_USAGE,
  type FleetFlags,
  loadFleet,
  parseFleetArgs,
  selectorOf,
  timeoutOf,
} from "./_fleet_args.ts";
import { deployFleet, rollbackFleet } from "./_fleet_deploy.ts";
import { fleetKeys } from "./_fleet_keys.ts";
import { formatBytes, formatSeconds, printJson } from "./_format.ts";

/** Connects to the broker as the flags and environment say; exit 3 when it cannot. */
async function connect(ctx: CliContext, flags: FleetFlags): Promise<FleetClient> {
  const { FleetClient, DEFAULT_NAMES } = await loadFleet();
  const prefix = flags.prefix;
  const servers = flags.nats ?? (ctx.env("ROBOT_AGENT_NATS_URL") || "nats://127.0.0.1:4222");
  const replicas = flags.replicas === undefined ? undefined : Number(flags.replicas);
  if (replicas !== undefined && !(Number.isInteger(replicas) && replicas >= 1 && replicas <= 5)) {
    throw new CliError("--replicas must be 1 to 5");
  }
  try {
    return await FleetClient.connect({
      servers,
      credsFile: flags.creds ?? (ctx.env("ROBOT_AGENT_NATS_CREDS") || undefined),
      nkeyFile: flags.nkey ?? (ctx.env("ROBOT_AGENT_NATS_NKEY") || undefined),
      token: flags.token ?? (ctx.env("ROBOT_AGENT_NATS_TOKEN") || undefined),
      name: "robot-agent fleet",
      replicas,
      names: prefix === undefined ? DEFAULT_NAMES : {
        prefix,
        statusBucket: `${prefix}-status`,
        desiredBucket: `${prefix}-desired`,
        objectStore: `${prefix}-projects`,
      },
    });
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    throw new CliError(`Cannot reach the broker at ${servers}: ${why}`, ExitCode.UNREACHABLE);
  }
}

function age(seenAt: string): string {
  return `${formatSeconds((Date.now() - Date.parse(seenAt)) / 1000)} ago`;
}

function labelsText(labels: Record<string, string> | undefined): string {
  const pairs = Object.entries(labels ?? {}).map(([k, v]) => `${k}=${v}`);
  return pairs.length === 0 ? "-" : pairs.join(",");
}

/** Prints rows as columns. */
function table(ctx: CliContext, rows: string[][]): void {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
  for (const row of rows) {
    ctx.out(row.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd());
  }
}

async function ls(ctx: CliContext, fleet: FleetClient, flags: FleetFlags): Promise<number> {
  const { isOnline } = await loadFleet();
  const selector: Selector = flags.label?.length
    ? await selectorOf(flags.label.join(","), "--label")
    : { kind: "all" };
  const [records, answering] = await Promise.all([fleet.robots(selector), fleet.discover()]);
  const rows = records.map((record) => ({
    record,
    online: isOnline(record) || answering.includes(record.robot_id),
  }));
  if (flags.json) {
    printJson(ctx, rows.map(({ record, online }) => ({ ...record, online })));
    return ExitCode.OK;
  }
  if (rows.length === 0) {
    ctx.out("No robots have reported to this broker yet.");
    return ExitCode.OK;
  }
  table(ctx, [
    ["ROBOT", "ONLINE", "LABELS", "PROJECT", "FLEET", "SEEN"],
    ...rows.map(({ record, online }) => {
      const project = record.health.project;
      return [
        record.robot_id,
        online ? "yes" : "no",
        labelsText(record.labels),
        project?.type ? `${project.type} v${project.version} ${project.state}` : "-",
        record.fleet.state,
        age(record.seen_at),
      ];
    }),
  ]);
  return ExitCode.OK;
}

async function status(
  ctx: CliContext,
  fleet: FleetClient,
  flags: FleetFlags,
  positionals: string[],
): Promise<number> {
  const selector = positionals[0] === undefined
    ? { kind: "all" as const }
    : await selectorOf(positionals[0], "status");
  const records = await fleet.robots(selector);
  if (flags.json) {
    printJson(ctx, records);
    return ExitCode.OK;
  }
  if (records.length === 0) ctx.out("No robots match.");
  const width = Math.max(0, ...records.map((r) => r.robot_id.length));
  for (const record of records) {
    const good = record.fleet.last_good ? `, last good v${record.fleet.last_good.version}` : "";
    ctx.out(`${record.robot_id.padEnd(width)}  ${describeRecord(record)}${good}`);
  }
  const failing = records.filter((r) => ["failed", "rolled_back"].includes(r.fleet.state));
  return failing.length > 0 ? ExitCode.FAILURE : ExitCode.OK;
}

function printResults(ctx: CliContext, results: FanOutResult[], json: boolean): number {
  if (json) printJson(ctx, results);
  else {
    const width = Math.max(...results.map((r) => r.robot.length));
    for (const result of results) {
      const text = result.ok
        ? (typeof result.result === "string"
          ? result.result
          : JSON.stringify(result.result ?? null))
        : `${result.error?.code}: ${result.error?.message}`;
      ctx.out(`${result.robot.padEnd(width)}  ${result.ok ? "ok   " : "error"}  ${text}`);
    }
    const failed = results.filter((r) => !r.ok).length;
    ctx.out(`${results.length} robots: ${results.length - failed} ok, ${failed} failed`);
  }
  return results.every((r) => r.ok) ? ExitCode.OK : ExitCode.FAILURE;
}

async function call(
  ctx: CliContext,
  fleet: FleetClient,
  flags: FleetFlags,
  positionals: string[],
): Promise<number> {
  const { matches, isOnline } = await loadFleet();
  const selector = await selectorOf(positionals[0], "call");
  const word = positionals[1] ?? "";
  const at = word.lastIndexOf(".");
  if (at <= 0 || at === word.length - 1) {
    throw new CliError(`fleet call needs OBJECT.METHOD after the SELECTOR\n\n${FLEET_USAGE}`);
  }
  const args = parseCallArgs(positionals.slice(2), flags.args);
  const timeoutMs = timeoutOf(flags, 30) * 1000;
  const records = await fleet.robots(selector);
  const answering = await fleet.discover();
  // Online robots by their records, and (their labels unknown otherwise) by discovery.
  const ids = new Set(records.filter((r) => isOnline(r)).map((r) => r.robot_id));
  if (selector.kind !== "labels") {
    for (const id of answering) if (matches(selector, { id, labels: {} })) ids.add(id);
  }
  if (ids.size === 0) throw new CliError("No online robot matches", ExitCode.FAILURE);
  const results = await fleet.call([...ids].sort(), {
    object: word.slice(0, at),
    method: word.slice(at + 1),
    args,
  }, { takeover: flags.takeover, timeoutMs });
  return printResults(ctx, results, flags.json ?? false);
}

async function init(ctx: CliContext, fleet: FleetClient, flags: FleetFlags): Promise<number> {
  const buckets = await fleet.buckets();
  if (flags.json) {
    printJson(ctx, { names: fleet.names, buckets });
    return ExitCode.OK;
  }
  for (const bucket of buckets) {
    ctx.out(
      `${bucket.stream}: ${bucket.replicas} replicas, ${bucket.messages} messages, ` +
        `${formatBytes(bucket.bytes)}`,
    );
  }
  ctx.out(`Robots take commands on ${fleet.names.prefix}.ROBOT.cmd`);
  return ExitCode.OK;
}

/** The `fleet` command. */
export const fleetCommand: CliCommand = {
  name: "fleet",
  summary: "many robots through a NATS broker: ls, status, deploy, call, rollback, init, keys",
  usage: FLEET_USAGE,
  async run(ctx, argv) {
    const [sub, ...rest] = argv;
    const { values, positionals } = parseFleetArgs(rest);
    // Needs no broker: it writes the broker's configuration.
    if (sub === "keys") return await fleetKeys(ctx, { flags: values, positionals });
    const commands: Record<string, (fleet: FleetClient) => Promise<number>> = {
      ls: (fleet) => ls(ctx, fleet, values),
      status: (fleet) => status(ctx, fleet, values, positionals),
      call: (fleet) => call(ctx, fleet, values, positionals),
      init: (fleet) => init(ctx, fleet, values),
      deploy: (fleet) => deployFleet(ctx, fleet, { flags: values, positionals }),
      rollback: (fleet) => rollbackFleet(ctx, fleet, { flags: values, positionals }),
    };
    const command = sub === undefined ? undefined : commands[sub];
    if (!command || !Object.hasOwn(commands, sub!)) {
      throw new CliError(
        `fleet needs one of ${[...Object.keys(commands), "keys"].join(", ")}${
          sub ? `, not ${JSON.stringify(sub)}` : ""
        }\n\n${FLEET_USAGE}`,
      );
    }
    const fleet = await connect(ctx, values);
    try {
      return await command(fleet);
    } finally {
      await fleet.close();
    }
  },
};
