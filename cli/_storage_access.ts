/**
 * The first thing `serve` checks: that the agent can write its storage. A service user that
 * cannot (a folder made by root, an install done by hand) gets one line saying what to do,
 * not an error from deep inside the logging set-up.
 *
 * @module
 */
import { joinPath as join } from "../paths.ts";
import { CliError, ExitCode } from "./_command.ts";

/** The name of the user this process runs as, for messages; the uid when it has none. */
async function currentUser(): Promise<string> {
  let uid: number | null;
  try {
    uid = Deno.uid();
  } catch {
    return "this user";
  }
  if (uid === null) return "this user";
  try {
    const passwd = await Deno.readTextFile("/etc/passwd");
    const entry = passwd.split("\n").map((line) => line.split(":")).find((fields) =>
      fields[2] === String(uid)
    );
    if (entry) return entry[0];
  } catch {
    // No readable /etc/passwd: the number says it.
  }
  return `uid ${uid}`;
}

/** Creates `dir` if needed, then creates and removes a file in it. */
async function probe(dir: string): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const file = join(dir, `.write-test-${Deno.pid}`);
  await Deno.writeFile(file, new Uint8Array(), { createNew: true });
  await Deno.remove(file);
}

/**
 * Makes sure the agent can write `storage`, its `logs` and `run` folders and its log file,
 * creating the folders.
 *
 * @throws {CliError} (exit code 1) naming the folder and, when permission is denied, the user
 * the agent runs as.
 */
export async function checkStorageAccess(storage: string): Promise<void> {
  try {
    for (const dir of [storage, join(storage, "logs"), join(storage, "run")]) await probe(dir);
    try {
      (await Deno.open(join(storage, "logs", "agent.log"), { append: true })).close();
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  } catch (error) {
    if (error instanceof Deno.errors.PermissionDenied) {
      throw new CliError(
        `Cannot use storage ${storage}: permission denied (the agent runs as ${await currentUser()}; chown it or run install)`,
        ExitCode.FAILURE,
      );
    }
    throw new CliError(
      `Cannot use storage ${storage}: ${error instanceof Error ? error.message : error}`,
      ExitCode.FAILURE,
    );
  }
}
