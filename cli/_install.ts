/**
 * `robot-agent install`: sets the agent up as a systemd service on this robot: the service
 * and sandbox users, `/opt/robot-agent` (binary, config, token file), storage owned by the
 * service user, and the unit. `--root DIR` does it under a stand-in for `/` and `--dry-run`
 * only prints the plan, so it can be tried (and tested) without touching the machine.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type CliCommand, type CliContext, CliError, ExitCode } from "./_command.ts";
import { applyStep } from "./_install_apply.ts";
import { describeStep, type InstallOptions, installPlan } from "./_install_plan.ts";
import { DEFAULT_UNIT_OPTIONS, serviceUnit, STORAGE_DIR, tokenFilePath } from "./_service_unit.ts";

const INSTALL_USAGE = `Usage: sudo robot-agent install [options]

Installs the agent as a systemd service: the users, ${DEFAULT_UNIT_OPTIONS.prefix} (the binary,
config.yaml, token.env with a new operator token), storage in ${STORAGE_DIR} owned by the
service user, and the unit. Run again to upgrade: the config and the token are kept.

Options:
  --prefix DIR          install folder (default: ${DEFAULT_UNIT_OPTIONS.prefix})
  --user NAME           user the agent runs as (default: ${DEFAULT_UNIT_OPTIONS.user})
  --sandbox-user NAME   user deployed projects run as (default: robot-agent-sandbox)
  --binary PATH         executable to install (default: this one, when compiled)
  --port N              gateway.port in the config written (default: 8000)
  --root DIR            install under DIR as if it were /, creating no users
  --dry-run             print the plan and change nothing
  --print-unit          print the systemd unit and stop
  --help                print this help
`;

const USER_PATTERN = /^[a-z_][a-z0-9_-]{0,31}$/;
const PATH_PATTERN = /^(\/[A-Za-z0-9._-]+)+$/;

/** The flags, checked. */
interface InstallFlags extends InstallOptions {
  root: string | undefined;
  dryRun: boolean;
  printUnit: boolean;
}

function readFlags(args: string[]): InstallFlags {
  let values;
  try {
    values = parseArgs({
      args,
      options: {
        prefix: { type: "string", default: DEFAULT_UNIT_OPTIONS.prefix },
        user: { type: "string", default: DEFAULT_UNIT_OPTIONS.user },
        "sandbox-user": { type: "string", default: "robot-agent-sandbox" },
        binary: { type: "string" },
        port: { type: "string", default: "8000" },
        root: { type: "string" },
        "dry-run": { type: "boolean", default: false },
        "print-unit": { type: "boolean", default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new CliError(`${error instanceof Error ? error.message : error}\n\n${INSTALL_USAGE}`);
  }
  const { prefix, user } = values;
  const sandboxUser = values["sandbox-user"];
  if (!PATH_PATTERN.test(prefix) || prefix.split("/").some((name) => /^\.\.?$/.test(name))) {
    throw new CliError(`--prefix must be an absolute path of plain names: ${prefix}`);
  }
  for (const [flag, name] of [["user", user], ["sandbox-user", sandboxUser]]) {
    if (!USER_PATTERN.test(name)) {
      throw new CliError(`--${flag} must be a user name (a-z, 0-9, _ and -): ${name}`);
    }
  }
  if (user === sandboxUser) throw new CliError("--user and --sandbox-user must differ");
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new CliError(`--port must be a number from 1 to 65535: ${values.port}`);
  }
  return {
    prefix,
    user,
    sandboxUser,
    port,
    binary: values.binary ?? (Deno.build.standalone ? Deno.execPath() : undefined),
    root: values.root,
    dryRun: values["dry-run"],
    printUnit: values["print-unit"],
  };
}

/** Refuses, before anything is changed, what would fail half-way. */
async function checkPreconditions(flags: InstallFlags): Promise<void> {
  const real = flags.root === undefined && !flags.dryRun;
  if (flags.binary === undefined && real) {
    throw new CliError(
      "Cannot install from source: no binary (build one with `deno task build`, then " +
        "pass --binary dist/robot-agent-aarch64, or run install from the built binary)",
    );
  }
  if (flags.binary !== undefined) {
    const info = await Deno.stat(flags.binary).catch(() => undefined);
    if (!info?.isFile) {
      throw new CliError(`Cannot install: --binary is not a file: ${flags.binary}`);
    }
  }
  if (
    flags.root !== undefined && !(await Deno.stat(flags.root).catch(() => undefined))?.isDirectory
  ) {
    throw new CliError(`Cannot install: --root is not a folder: ${flags.root}`);
  }
  if (real && Deno.uid() !== 0) {
    throw new CliError(
      "Cannot install: it needs root (sudo robot-agent install)",
      ExitCode.FAILURE,
    );
  }
}

/** What to do after the install, printed at the end of every run. */
function nextSteps(ctx: CliContext, flags: InstallFlags): void {
  const tokenFile = tokenFilePath(flags.prefix);
  ctx.out(`
Start it now and at every boot (after an upgrade: sudo systemctl restart robot-agent):
  sudo systemctl daemon-reload && sudo systemctl enable --now robot-agent
The operator token (ROBOT_AGENT_TOKEN) is in ${tokenFile}, readable by root only:
  sudo sed -n 's/^ROBOT_AGENT_TOKEN=//p' ${tokenFile}
Connect with ws://ROBOT:${flags.port}/ws?token=TOKEN. Logs: journalctl -u robot-agent -f
(also ${STORAGE_DIR}/logs/agent.log).`);
}

/** The `install` command. */
export const installCommand: CliCommand = {
  name: "install",
  summary: "install the agent as a systemd service on this robot",
  usage: INSTALL_USAGE,
  async run(ctx, args) {
    const flags = readFlags(args);
    if (flags.printUnit) {
      ctx.out(serviceUnit(flags).trimEnd());
      return ExitCode.OK;
    }
    await checkPreconditions(flags);
    const plan = installPlan(flags);
    const where = flags.root === undefined ? "" : ` under ${flags.root} (standing in for /)`;
    if (flags.dryRun) {
      ctx.out(`robot-agent install would do${where}, in order:`);
      for (const step of plan) ctx.out(`  ${describeStep(step)}`);
      ctx.out("Nothing was changed (--dry-run).");
      nextSteps(ctx, flags);
      return ExitCode.OK;
    }
    ctx.out(`robot-agent install${where}:`);
    for (const step of plan) {
      let outcome;
      try {
        outcome = await applyStep(step, { root: flags.root });
      } catch (error) {
        if (error instanceof CliError) throw error;
        throw new CliError(
          `Cannot install ${step.kind === "user" ? step.name : step.path}: ${
            error instanceof Error ? error.message : error
          }`,
          ExitCode.FAILURE,
        );
      }
      ctx.out(`  ${describeStep(step)} [${outcome}]`);
    }
    nextSteps(ctx, flags);
    return ExitCode.OK;
  },
};
