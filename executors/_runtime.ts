/**
 * Files the agent ships inside itself and writes to disk for python3 to use: the host
 * package (`robot_agent_host/`), the launcher that confines projects
 * (`robot_agent_sandbox/`) and the built-in default project (the simulated robot).
 *
 * In a compiled binary these live in its embedded file system (`deno compile --include`);
 * python3 needs real files, so they are copied under the storage folder at start-up.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import { logger } from "../log.ts";
import { joinPath } from "../paths.ts";

const log = logger("executors", "runtime");

/** Where the runtime files were written. */
export interface RuntimeFiles {
  /**
   * The folder holding the host package `robot_agent_host/`: the working directory to run
   * `python3 -m robot_agent_host` in.
   */
  hostPath: string;
  /** The default project's folder. */
  defaultProject: string;
}

const SOURCE_DIR = import.meta.dirname ?? ".";
/** The packages' folder names, which are also their module names. */
const PACKAGES = ["robot_agent_host", "robot_agent_sandbox"];
/** What python3 writes beside the sources; never copied, never pruned. */
const BYTECODE_DIR = "__pycache__";

/**
 * What the runtime files' modes are, whatever the agent's umask: the project's user reads
 * them (the host runs as that user), and only the agent may change them.
 */
const FILE_MODE = 0o644;
const FOLDER_MODE = 0o755;

/** Copies `from` to `to` unless `to` holds the same bytes; true when it wrote. */
async function copyIfChanged(from: string, to: string): Promise<boolean> {
  const data = await Deno.readFile(from);
  try {
    const old = await Deno.readFile(to);
    if (old.length === data.length && old.every((byte, i) => byte === data[i])) {
      if ((((await Deno.stat(to)).mode ?? 0) & 0o777) !== FILE_MODE) {
        await Deno.chmod(to, FILE_MODE);
      }
      return false;
    }
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const temp = `${to}.tmp`;
  await Deno.writeFile(temp, data);
  await Deno.chmod(temp, FILE_MODE);
  await Deno.rename(temp, to);
  return true;
}

/** Compiles the packages' bytecode; a failure costs only speed, so it is logged, not thrown. */
async function compile(interpreter: string, dir: string): Promise<void> {
  try {
    const { success, stderr } = await new Deno.Command(interpreter, {
      args: ["-E", "-S", "-m", "compileall", "-q", ...PACKAGES],
      cwd: dir,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!success) throw new Error(new TextDecoder().decode(stderr).trim());
  } catch (error) {
    log.warn("Cannot compile the runtime's bytecode (projects start slower): {error}", {
      error: errorMessage(error),
    });
  }
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/**
 * Copies `from` into `to`; with `prune`, also removes what `to` holds and `from` does not.
 * Counts the files it wrote in `options.written`.
 */
async function copyTree(
  from: string,
  to: string,
  options: { prune?: boolean; written?: { count: number } } = {},
): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  await Deno.chmod(to, FOLDER_MODE);
  const copied = new Set<string>();
  for await (const entry of Deno.readDir(from)) {
    if (entry.name === BYTECODE_DIR) continue;
    copied.add(entry.name);
    if (entry.isDirectory) {
      await copyTree(joinPath(from, entry.name), joinPath(to, entry.name), options);
    } else if (entry.isFile) {
      if (await copyIfChanged(joinPath(from, entry.name), joinPath(to, entry.name))) {
        if (options.written) options.written.count++;
      }
    }
  }
  if (!options.prune) return;
  for await (const entry of Deno.readDir(to)) {
    if (entry.name !== BYTECODE_DIR && !copied.has(entry.name)) {
      await removeIfPresent(joinPath(to, entry.name));
    }
  }
}

/** Options for {@linkcode installRuntime}. */
export interface InstallRuntimeOptions {
  /**
   * An interpreter to compile the packages' bytecode with whenever their sources change:
   * the host runs as the project's user, who may not write it, and compiling the host at
   * each start costs ~10 ms. An interpreter of another version just writes files the
   * host's will not use.
   */
  compileWith?: string;
}

/**
 * Writes the shipped runtime files into `dir` (only those that changed) and removes what
 * an older agent left there: modules of the packages it no longer has, and the single-file
 * host `python_host.py` the package replaced.
 */
export async function installRuntime(
  dir: string,
  options: InstallRuntimeOptions = {},
): Promise<RuntimeFiles> {
  await Deno.mkdir(dir, { recursive: true });
  await Deno.chmod(dir, FOLDER_MODE);
  const written = { count: 0 };
  for (const name of PACKAGES) {
    await copyTree(joinPath(SOURCE_DIR, name), joinPath(dir, name), { prune: true, written });
  }
  if (options.compileWith && written.count > 0) await compile(options.compileWith, dir);
  await removeIfPresent(joinPath(dir, "python_host.py"));
  const defaultProject = joinPath(dir, "default_project");
  await copyTree(joinPath(SOURCE_DIR, "default_project"), defaultProject);
  return { hostPath: dir, defaultProject };
}
