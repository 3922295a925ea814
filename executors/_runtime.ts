/**
 * Files the agent ships inside itself and writes to disk for python3 to use: the host
 * package (`robot_agent_host/`) and the built-in default project (the simulated robot).
 *
 * In a compiled binary these live in its embedded file system (`deno compile --include`);
 * python3 needs real files, so they are copied under the storage folder at start-up.
 *
 * @module
 */
import { joinPath } from "../paths.ts";

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
/** The host package's folder name, which is also its module name. */
const HOST_PACKAGE = "robot_agent_host";
/** What python3 writes beside the sources; never copied, never pruned. */
const BYTECODE_DIR = "__pycache__";

async function copyIfChanged(from: string, to: string): Promise<void> {
  const data = await Deno.readFile(from);
  try {
    const old = await Deno.readFile(to);
    if (old.length === data.length && old.every((byte, i) => byte === data[i])) return;
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const temp = `${to}.tmp`;
  await Deno.writeFile(temp, data);
  await Deno.rename(temp, to);
}

async function removeIfPresent(path: string): Promise<void> {
  try {
    await Deno.remove(path, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
}

/** Copies `from` into `to`; with `prune`, also removes what `to` holds and `from` does not. */
async function copyTree(
  from: string,
  to: string,
  options: { prune?: boolean } = {},
): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  const copied = new Set<string>();
  for await (const entry of Deno.readDir(from)) {
    if (entry.name === BYTECODE_DIR) continue;
    copied.add(entry.name);
    if (entry.isDirectory) {
      await copyTree(joinPath(from, entry.name), joinPath(to, entry.name), options);
    } else if (entry.isFile) {
      await copyIfChanged(joinPath(from, entry.name), joinPath(to, entry.name));
    }
  }
  if (!options.prune) return;
  for await (const entry of Deno.readDir(to)) {
    if (entry.name !== BYTECODE_DIR && !copied.has(entry.name)) {
      await removeIfPresent(joinPath(to, entry.name));
    }
  }
}

/**
 * Writes the shipped runtime files into `dir` (only those that changed) and removes what
 * an older agent left there: modules of the package it no longer has, and the single-file
 * host `python_host.py` the package replaced.
 */
export async function installRuntime(dir: string): Promise<RuntimeFiles> {
  await Deno.mkdir(dir, { recursive: true });
  await copyTree(joinPath(SOURCE_DIR, HOST_PACKAGE), joinPath(dir, HOST_PACKAGE), {
    prune: true,
  });
  await removeIfPresent(joinPath(dir, "python_host.py"));
  const defaultProject = joinPath(dir, "default_project");
  await copyTree(joinPath(SOURCE_DIR, "default_project"), defaultProject);
  return { hostPath: dir, defaultProject };
}
