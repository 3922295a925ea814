/**
 * `robot-agent deploy PATH`: zips a folder (or takes a zip), uploads it in chunks with
 * progress, resuming after a dropped link, and prints the new version; `--start` starts
 * it and prints its objects.
 *
 * @module
 */
import type { DeployOutcome, RobotClient, StartResult } from "../client/mod.ts";
import { joinPath as join } from "../paths.ts";
import { type CliCommand, type CliContext, CliError, ExitCode } from "./_command.ts";
import { CONNECT_HELP, parseFlags, withRobot } from "./_connect.ts";
import { formatBytes, formatStarted, plural, printJson } from "./_format.ts";
import { progressReporter } from "./_progress.ts";
import { zipFolder } from "./_zip_folder.ts";

const USAGE = `Usage: robot-agent deploy PATH [options]

Deploys a project: PATH is a folder, zipped on the fly, or a .zip file. Left out of a
folder: .git, __pycache__, *.pyc, and what its .robotignore lists (one glob a line, as in
.gitignore). The upload goes in chunks with progress and resumes after a dropped
connection (and where an earlier, interrupted deploy of the same files stopped).

Options:
  --start              start the new version and print its objects
  --chunk-size SIZE    bytes per chunk: 1m (default), 256k, 4m, … (at most the agent's limit)

${CONNECT_HELP}
`;

/** Reads `256k`, `1m`, `65536` as a byte count. */
function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([kmg]?)i?b?$/i.exec(text.trim());
  const scale = { "": 1, k: 1 << 10, m: 1 << 20, g: 1 << 30 }[match?.[2].toLowerCase() ?? ""];
  const bytes = match && scale ? Math.floor(Number(match[1]) * scale) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new CliError(`--chunk-size must be a size such as 1m or 256k, not ${text}`);
  }
  return bytes;
}

/** PATH as the user meant it: `deno task` runs in the repository, `INIT_CWD` is theirs. */
function resolvePath(ctx: CliContext, path: string): string {
  return path.startsWith("/") ? path : join(ctx.env("INIT_CWD") || Deno.cwd(), path);
}

/** The zip to deploy: the file itself, or the folder zipped. */
async function readProject(ctx: CliContext, path: string, quiet: boolean): Promise<Uint8Array> {
  const absolute = resolvePath(ctx, path);
  const info = await Deno.stat(absolute).catch(() => undefined);
  if (!info) throw new CliError(`Cannot deploy ${path}: no such file or folder`);
  if (info.isFile) return await Deno.readFile(absolute);
  try {
    const zipped = await zipFolder(absolute);
    for (const warning of zipped.warnings) ctx.err(`robot-agent: warning: ${warning}`);
    if (!quiet) {
      const skipped = zipped.skipped > 0 ? `, ${zipped.skipped} left out` : "";
      ctx.err(
        `Zipped ${plural(zipped.files.length, "file")} (${formatBytes(zipped.bytes)} → ` +
          `${formatBytes(zipped.zip.length)}${skipped}) from ${path}`,
      );
    }
    return zipped.zip;
  } catch (error) {
    if (error instanceof RangeError) throw new CliError(error.message, ExitCode.FAILURE);
    throw error;
  }
}

async function deploy(
  ctx: CliContext,
  robot: RobotClient,
  zip: Uint8Array,
  options: { start: boolean; chunkBytes: number | undefined; json: boolean },
): Promise<number> {
  const reporter = progressReporter(ctx);
  const deployed: DeployOutcome = await robot.deploy(zip, {
    chunkBytes: options.chunkBytes,
    onProgress: (progress) => reporter.update(progress),
  });
  if (!options.json) {
    ctx.out(
      `Deployed version ${deployed.version} (${deployed.type}, ${deployed.entry}, ` +
        `${plural(deployed.files, "file")}, ${formatBytes(deployed.bytes)})`,
    );
  }
  const started: StartResult | undefined = options.start ? await robot.start() : undefined;
  if (options.json) {
    printJson(ctx, { deploy: deployed, start: started });
  } else if (started) {
    for (const line of formatStarted(started)) ctx.out(line);
  } else {
    ctx.out("Start it with: robot-agent start");
  }
  return ExitCode.OK;
}

/** The `deploy` command. */
export const deployCommand: CliCommand = {
  name: "deploy",
  summary: "deploy a project folder or zip (chunked, resumable, with progress)",
  usage: USAGE,
  async run(ctx, args) {
    const { values, positionals } = parseFlags(args, {
      start: { type: "boolean" },
      "chunk-size": { type: "string" },
    }, USAGE);
    if (positionals.length !== 1) {
      throw new CliError(`deploy takes one PATH, a folder or a zip\n\n${USAGE}`);
    }
    const chunk = values["chunk-size"];
    const chunkBytes = chunk === undefined ? undefined : parseSize(chunk);
    const zip = await readProject(ctx, positionals[0], values.json ?? false);
    return await withRobot(ctx, values, (robot) =>
      deploy(ctx, robot, zip, {
        start: values.start ?? false,
        chunkBytes,
        json: values.json ?? false,
      }));
  },
};
