/**
 * Files the agent ships inside itself and writes to disk for python3 to use: the host
 * script and the built-in default project (the simulated robot).
 *
 * In a compiled binary these live in its embedded file system (`deno compile --include`);
 * python3 needs real files, so they are copied under the storage folder at start-up.
 *
 * @module
 */
import { joinPath } from "../paths.ts";

/** Where the runtime files were written. */
export interface RuntimeFiles {
  /** The Python host script. */
  hostScript: string;
  /** The default project's folder. */
  defaultProject: string;
}

const SOURCE_DIR = import.meta.dirname ?? ".";

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

async function copyTree(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (entry.name === "__pycache__") continue;
    if (entry.isDirectory) await copyTree(joinPath(from, entry.name), joinPath(to, entry.name));
    else if (entry.isFile) {
      await copyIfChanged(joinPath(from, entry.name), joinPath(to, entry.name));
    }
  }
}

/** Writes the shipped runtime files into `dir` (only those that changed). */
export async function installRuntime(dir: string): Promise<RuntimeFiles> {
  await Deno.mkdir(dir, { recursive: true });
  const hostScript = joinPath(dir, "python_host.py");
  await copyIfChanged(joinPath(SOURCE_DIR, "python_host.py"), hostScript);
  const defaultProject = joinPath(dir, "default_project");
  await copyTree(joinPath(SOURCE_DIR, "default_project"), defaultProject);
  return { hostScript, defaultProject };
}
