/**
 * `robot-agent fleet deploy PATH --robots SELECTOR` and `fleet rollback SELECTOR`: set a
 * desired state (the zip uploaded once to the object store, whatever the number of
 * robots), then follow the robots' status records until each has converged, failed or
 * rolled back.
 *
 * @module
 */
import type {
  DesiredEntry,
  FleetClient,
  RobotRecord,
  Selector,
  UploadResult,
} from "../fleet/mod.ts";
import { joinPath as join } from "../paths.ts";
import { type CliContext, CliError, ExitCode } from "./_command.ts";
import {
  describeRecord,
  type FleetFlags,
  loadFleet,
  selectorOf,
  timeoutOf,
} from "./_fleet_args.ts";
import { formatBytes, formatSeconds, printJson } from "./_format.ts";
import { zipFolder } from "./_zip_folder.ts";

/** A deploy or rollback's arguments. */
export interface FleetInvocation {
  flags: FleetFlags;
  positionals: string[];
}

const DONE = new Set(["converged", "failed", "rolled_back"]);

/** The zip to deploy and its name: a .zip file as it is, or a folder zipped. */
async function readProject(
  ctx: CliContext,
  path: string,
  quiet: boolean,
): Promise<{ zip: Uint8Array; name: string }> {
  const absolute = path.startsWith("/") ? path : join(ctx.env("INIT_CWD") || Deno.cwd(), path);
  const info = await Deno.stat(absolute).catch(() => undefined);
  if (!info) throw new CliError(`Cannot deploy ${path}: no such file or folder`);
  const name = absolute.replace(/\/+$/, "").split("/").at(-1)!.replace(/\.zip$/, "");
  if (info.isFile) return { zip: await Deno.readFile(absolute), name };
  try {
    const zipped = await zipFolder(absolute);
    for (const warning of zipped.warnings) ctx.err(`robot-agent: warning: ${warning}`);
    if (!quiet) {
      ctx.err(
        `Zipped ${zipped.files.length} files (${formatBytes(zipped.bytes)} → ` +
          `${formatBytes(zipped.zip.length)}) from ${path}`,
      );
    }
    return { zip: zipped.zip, name };
  } catch (error) {
    if (error instanceof RangeError) throw new CliError(error.message, ExitCode.FAILURE);
    throw error;
  }
}

/**
 * What each online robot a selector names will follow now: robot id → the deploy id of
 * the desired state that applies to it. With `only`, robots that follow another key (a
 * more specific one of their own) are reported and left out.
 */
async function followers(
  ctx: CliContext,
  fleet: FleetClient,
  options: { selector: Selector; only?: DesiredEntry; quiet: boolean },
): Promise<Map<string, string>> {
  const { chooseDesired, isOnline, matches, selectorOfKey } = await loadFleet();
  const records = (await fleet.robots(options.selector)).filter((r) => isOnline(r));
  const desired = await fleet.desiredStates();
  const out = new Map<string, string>();
  for (const record of records) {
    const robot = { id: record.robot_id, labels: record.labels ?? {} };
    const applies = chooseDesired(desired.filter((d) => {
      const selector = selectorOfKey(d.key);
      return selector !== undefined && matches(selector, robot);
    }));
    const skip = applies === undefined
      ? "no desired state applies to it any more: it stays on its version"
      : options.only && applies.key !== options.only.key
      ? `follows ${applies.key}, not this deploy`
      : undefined;
    if (skip === undefined) out.set(record.robot_id, applies!.deploy_id);
    else if (!options.quiet) ctx.err(`${record.robot_id}: ${skip}`);
  }
  return out;
}

/** Follows the robots' records until each is done with its deploy, or the time is up. */
async function follow(
  ctx: CliContext,
  fleet: FleetClient,
  options: { entry: DesiredEntry; expect: Map<string, string>; timeoutS: number; json: boolean },
): Promise<number> {
  const robots = [...options.expect.keys()];
  const started = performance.now();
  const last = new Map<string, string>();
  const done = new Map<string, RobotRecord>();
  const width = Math.max(0, ...robots.map((id) => id.length));
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), options.timeoutS * 1000);
  try {
    for await (const record of fleet.watchStatus(abort.signal)) {
      const id = record.robot_id;
      if (!options.expect.has(id) || done.has(id)) continue;
      if (record.fleet.deploy_id !== options.expect.get(id)) continue;
      const line = describeRecord({
        ...record,
        fleet: { ...record.fleet, progress: quarter(record.fleet.progress) },
      });
      if (!options.json && line !== last.get(id)) ctx.out(`${id.padEnd(width)}  ${line}`);
      last.set(id, line);
      if (DONE.has(record.fleet.state)) done.set(id, record);
      if (done.size === robots.length) break;
    }
  } finally {
    clearTimeout(timer);
  }
  const seconds = (performance.now() - started) / 1000;
  const states = robots.map((id) => done.get(id)?.fleet.state ?? "timed_out");
  if (options.json) {
    printJson(ctx, {
      deploy: options.entry,
      seconds,
      robots: Object.fromEntries(
        robots.map((id) => [id, done.get(id)?.fleet ?? { state: "timed_out" }]),
      ),
    });
  } else {
    const count = (state: string) => states.filter((s) => s === state).length;
    const parts = [["converged", "converged"], ["rolled_back", "rolled back"], [
      "failed",
      "failed",
    ], ["timed_out", "not done in time"]]
      .filter(([state]) => count(state) > 0).map(([state, text]) => `${count(state)} ${text}`);
    ctx.out(
      `${robots.length} robots in ${formatSeconds(seconds)}: ${parts.join(", ") || "none"}`,
    );
  }
  return states.every((s) => s === "converged") ? ExitCode.OK : ExitCode.FAILURE;
}

/** Progress rounded down to a quarter, so lines are printed at 0, 25, 50, 75 and 100 %. */
function quarter(
  progress: { received: number; size: number } | undefined,
): { received: number; size: number } | undefined {
  if (!progress || progress.size === 0) return progress;
  const step = Math.floor((progress.received / progress.size) * 4) / 4;
  return { received: step * progress.size, size: progress.size };
}

function who(ctx: CliContext): string {
  return `${ctx.env("USER") ?? "someone"}@${Deno.hostname()}`;
}

function describeUpload(upload: UploadResult, robots: number): string {
  const what = `${formatBytes(upload.size)} (sha256 ${upload.sha256.slice(0, 12)})`;
  return upload.uploaded
    ? `Uploaded ${what} once for ${robots} robots`
    : `The broker has ${what} already: nothing to upload`;
}

/** `fleet deploy PATH --robots SELECTOR`. */
export async function deployFleet(
  ctx: CliContext,
  fleet: FleetClient,
  { flags, positionals }: FleetInvocation,
): Promise<number> {
  if (positionals.length !== 1) throw new CliError("fleet deploy takes one PATH, a folder or zip");
  const selector = await selectorOf(flags.robots, "fleet deploy --robots");
  const timeoutS = timeoutOf(flags, 600);
  const json = flags.json ?? false;
  const { zip, name } = await readProject(ctx, positionals[0], json);
  const upload = await fleet.upload(zip, { name });
  const entry = await fleet.setDesired(selector, {
    sha256: upload.sha256,
    size: upload.size,
    name,
    by: who(ctx),
    takeover: flags.takeover === true,
  });
  const expect = await followers(ctx, fleet, { selector, only: entry, quiet: json });
  if (!json) {
    ctx.out(describeUpload(upload, expect.size));
    ctx.out(`Deploy ${entry.deploy_id} of ${name} to ${flags.robots}: ${expect.size} robots`);
  }
  if (flags["no-wait"]) {
    if (json) printJson(ctx, { deploy: entry, upload, robots: [...expect.keys()] });
    return ExitCode.OK;
  }
  return await follow(ctx, fleet, { entry, expect, timeoutS, json });
}

/** `fleet rollback SELECTOR`. */
export async function rollbackFleet(
  ctx: CliContext,
  fleet: FleetClient,
  { flags, positionals }: FleetInvocation,
): Promise<number> {
  const selector = await selectorOf(positionals[0], "fleet rollback");
  const timeoutS = timeoutOf(flags, 600);
  const json = flags.json ?? false;
  let rolled: { entry: DesiredEntry; removed: boolean };
  try {
    rolled = await fleet.rollback(selector, who(ctx));
  } catch (error) {
    if (error instanceof RangeError) throw new CliError(error.message, ExitCode.FAILURE);
    throw error;
  }
  const { entry, removed } = rolled;
  const expect = await followers(ctx, fleet, {
    selector,
    only: removed ? undefined : entry,
    quiet: json,
  });
  if (!json) {
    ctx.out(
      removed
        ? `Removed the desired state of ${positionals[0]} (${entry.name}, the only one it had): ` +
          `${expect.size} robots follow the next one that applies`
        : `Rolling ${positionals[0]} back to ${entry.name} (sha256 ${
          entry.sha256.slice(0, 12)
        }): ` +
          `${expect.size} robots`,
    );
  }
  if (flags["no-wait"]) {
    if (json) printJson(ctx, { deploy: entry, removed, robots: [...expect.keys()] });
    return ExitCode.OK;
  }
  return await follow(ctx, fleet, { entry, expect, timeoutS, json });
}
