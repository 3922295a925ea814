/**
 * Carries out one step of the install plan, on this machine or under a stand-in root.
 *
 * Files are written beside their target and renamed over it, so a running agent's binary is
 * replaced, never rewritten in place (which fails with "text file busy").
 *
 * @module
 */
import { dirname, join } from "node:path";
import { CliError, ExitCode } from "./_command.ts";
import { type InstallStep, USERADD_FLAGS } from "./_install_plan.ts";

/** Where and how the steps are applied. */
export interface ApplyOptions {
  /**
   * A folder standing in for `/`: every path goes under it, users are not created and
   * nothing is chowned (the users exist only in the plan). Undefined: this machine.
   */
  root: string | undefined;
}

/** A fresh operator token: `ra_` and 192 random bits, base64url. */
export function newOperatorToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return `ra_${bytes.toBase64({ alphabet: "base64url", omitPadding: true })}`;
}

async function run(program: string, args: string[]): Promise<{ ok: boolean; text: string }> {
  const output = await new Deno.Command(program, { args, stdin: "null" }).output();
  const decoder = new TextDecoder();
  return {
    ok: output.success,
    text: (decoder.decode(output.stdout) + decoder.decode(output.stderr)).trim(),
  };
}

/** The uid and gid of `user:group`, from the system's databases (NSS included). */
async function ids(owner: string): Promise<{ uid: number; gid: number }> {
  const [user, group] = owner.split(":");
  const passwd = await run("getent", ["passwd", user]);
  const groupEntry = await run("getent", ["group", group]);
  const uid = Number(passwd.text.split(":")[2]);
  const gid = Number(groupEntry.text.split(":")[2]);
  if (!passwd.ok || !groupEntry.ok || !Number.isInteger(uid) || !Number.isInteger(gid)) {
    throw new CliError(`Cannot install: no such user or group: ${owner}`, ExitCode.FAILURE);
  }
  return { uid, gid };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** Sets a path's mode, and its owner when installing on this machine. */
async function own(path: string, step: { owner: string; mode: number }, options: ApplyOptions) {
  await Deno.chmod(path, step.mode);
  if (options.root !== undefined) return;
  const { uid, gid } = await ids(step.owner);
  await Deno.chown(path, uid, gid);
}

async function applyUser(name: string, options: ApplyOptions): Promise<string> {
  if (options.root !== undefined) return "listed only (--root creates no users)";
  if ((await run("getent", ["passwd", name])).ok) return "exists";
  const made = await run("useradd", [...USERADD_FLAGS, name]);
  if (!made.ok) {
    throw new CliError(`Cannot create user ${name}: ${made.text}`, ExitCode.FAILURE);
  }
  return "created";
}

async function applyFile(
  step: Extract<InstallStep, { kind: "file" }>,
  path: string,
  options: ApplyOptions,
): Promise<string> {
  await Deno.mkdir(dirname(path), { recursive: true });
  const existed = await exists(path);
  if (existed && step.keep) {
    await own(path, step, options);
    return "exists, kept";
  }
  const temporary = `${path}.install-${Deno.pid}`;
  try {
    if ("copy" in step.source) {
      await Deno.copyFile(step.source.copy, temporary);
    } else {
      const text = "text" in step.source
        ? step.source.text
        : `ROBOT_AGENT_TOKEN=${newOperatorToken()}\n`;
      // Mode 0600 from the start: the token is never readable by others, even briefly.
      await Deno.writeTextFile(temporary, text, { mode: 0o600, createNew: true });
    }
    await own(temporary, step, options);
    await Deno.rename(temporary, path);
  } catch (error) {
    await Deno.remove(temporary).catch(() => {});
    throw error;
  }
  return existed ? "replaced" : "written";
}

/**
 * Applies one step; resolves with what happened ("created", "exists, kept", …).
 *
 * @throws {CliError} when a user cannot be made or an owner does not exist.
 */
export async function applyStep(step: InstallStep, options: ApplyOptions): Promise<string> {
  if (step.kind === "user") return await applyUser(step.name, options);
  if (step.kind === "skip") return "skipped";
  const path = options.root === undefined ? step.path : join(options.root, step.path);
  if (step.kind === "file") return await applyFile(step, path, options);
  const existed = await exists(path);
  await Deno.mkdir(path, { recursive: true });
  await own(path, step, options);
  if (!existed) return "created";
  return options.root === undefined ? "exists, owner and mode set" : "exists, mode set";
}
