/**
 * Detection of what a freshly extracted project folder holds: a Python project or a C++
 * executable, and what to run.
 *
 * @module
 */

import { resolvePath } from "../paths.ts";
import { AgentError, ErrorCode, errorMessage } from "../errors.ts";
import { parsePermissions, type PermissionRequest } from "./_permissions.ts";

/** The kinds of project the agent can run. */
export type ProjectType = "python" | "cpp";

/** What {@link detectProject} found. */
export interface ProjectInfo {
  /** How to run the project. */
  type: ProjectType;
  /** The absolute folder holding the entry, and the project's working folder. */
  root: string;
  /** The entry, relative to `root` with "/" separators: `main.py`, `__init__.py` or the executable. */
  entry: string;
  /** The command-line arguments for the entry, from the manifest. */
  args: string[];
  /** `true` when the project came with a {@link MANIFEST_NAME} that said what to run. */
  manifest: boolean;
  /**
   * The project's name, which its data folder is kept under across versions: the
   * manifest's `name`, else the zip's single top folder's, else {@link DEFAULT_NAME}.
   */
  name: string;
  /** What the manifest asks under `permissions`; empty without one. */
  permissions: PermissionRequest;
}

/** The name of a project that gives none and has no top folder to take it from. */
export const DEFAULT_NAME = "project";

/** What a project name may be: it names a folder. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * The optional manifest at the project root:
 * `{"type", "entry"?, "args"?, "name"?, "permissions"?}`.
 */
export const MANIFEST_NAME = "robot-agent.json";

/** Names that zip tools add beside the project, ignored when looking for its top folder. */
const CLUTTER = new Set(["__MACOSX", ".DS_Store"]);
const PYTHON_ENTRIES = ["main.py", "__init__.py"];
const EXECUTABLE_FOLDERS = ["bin", "build"];
const MANIFEST_KEYS = new Set(["type", "entry", "args", "name", "permissions"]);
const MAX_MANIFEST_BYTES = 64 * 1024;
const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];

/**
 * Detects what a freshly extracted project folder holds.
 *
 * The project root is `dir`, or the single folder inside it when there is nothing else
 * (zip tools' clutter aside). A {@link MANIFEST_NAME} there decides; otherwise `main.py`,
 * then `__init__.py`, make a Python project, and a single ELF executable at the root, or
 * else in `bin/` or `build/`, makes a C++ one.
 *
 * @throws {AgentError} NO_PROJECT when nothing runnable is found or the manifest is invalid.
 */
export async function detectProject(dir: string): Promise<ProjectInfo> {
  const top = resolvePath(dir);
  const root = await projectRoot(top);
  const folder = root === top ? "" : root.slice(top.length + 1);
  const folderName = NAME_PATTERN.test(folder) ? folder : DEFAULT_NAME;
  const manifest = await readManifest(root);
  if (manifest === undefined) {
    return {
      ...await detectEntry(root, undefined),
      root,
      args: [],
      manifest: false,
      name: folderName,
      permissions: {},
    };
  }
  const found = manifest.entry === undefined
    ? await detectEntry(root, manifest.type)
    : { type: manifest.type, entry: await checkEntry(root, manifest.type, manifest.entry) };
  return {
    ...found,
    root,
    args: manifest.args,
    manifest: true,
    name: manifest.name ?? folderName,
    permissions: manifest.permissions,
  };
}

async function projectRoot(dir: string): Promise<string> {
  const entries: Deno.DirEntry[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (!CLUTTER.has(entry.name)) entries.push(entry);
    }
  } catch (error) {
    throw noProject(`cannot read the project folder: ${errorMessage(error)}`);
  }
  return entries.length === 1 && entries[0].isDirectory ? `${dir}/${entries[0].name}` : dir;
}

interface Manifest {
  type: ProjectType;
  entry?: string;
  args: string[];
  name?: string;
  permissions: PermissionRequest;
}

async function readManifest(root: string): Promise<Manifest | undefined> {
  const path = `${root}/${MANIFEST_NAME}`;
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw manifestError(`cannot be read: ${errorMessage(error)}`);
  }
  if (!info.isFile) throw manifestError("is not a file");
  if (info.size > MAX_MANIFEST_BYTES) {
    throw manifestError(`is ${info.size} bytes, over the limit of ${MAX_MANIFEST_BYTES}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw manifestError(`is not valid JSON (${errorMessage(error)})`);
  }
  return parseManifest(value);
}

function parseManifest(value: unknown): Manifest {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw manifestError("must hold a JSON object");
  }
  const fields = value as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!MANIFEST_KEYS.has(key)) {
      throw manifestError(`unknown key '${key}' (allowed: ${[...MANIFEST_KEYS].join(", ")})`);
    }
  }
  const { type, entry, args, name, permissions } = fields;
  if (type !== "python" && type !== "cpp") {
    throw manifestError(`'type' must be "python" or "cpp", not ${JSON.stringify(type)}`);
  }
  if (entry !== undefined && (typeof entry !== "string" || entry === "")) {
    throw manifestError("'entry' must be a non-empty string");
  }
  if (
    args !== undefined &&
    (!Array.isArray(args) || !args.every((arg) => typeof arg === "string"))
  ) {
    throw manifestError("'args' must be an array of strings");
  }
  if (name !== undefined && (typeof name !== "string" || !NAME_PATTERN.test(name))) {
    throw manifestError(
      "'name' must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
    );
  }
  return {
    type,
    entry,
    args: args ?? [],
    name,
    permissions: permissions === undefined ? {} : parsePermissions(permissions, manifestError),
  };
}

/** Checks the entry a manifest names and returns it normalised. */
async function checkEntry(root: string, type: ProjectType, entry: string): Promise<string> {
  const segments = entry.split("/").filter((segment) => segment !== "" && segment !== ".");
  if (
    entry.startsWith("/") || entry.includes("\\") || entry.includes("\0") ||
    segments.includes("..") || segments.length === 0
  ) {
    throw manifestError(`entry '${entry}' must be a relative path inside the project`);
  }
  const normalised = segments.join("/");
  const path = `${root}/${normalised}`;
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw manifestError(`entry '${normalised}' does not exist`);
    }
    throw manifestError(`entry '${normalised}' cannot be read: ${errorMessage(error)}`);
  }
  if (!info.isFile) throw manifestError(`entry '${normalised}' is not a file`);
  const [realRoot, realPath] = await Promise.all([Deno.realPath(root), Deno.realPath(path)]);
  if (!realPath.startsWith(`${realRoot}/`)) {
    throw manifestError(`entry '${normalised}' must be a relative path inside the project`);
  }
  if (type === "cpp") {
    if (!await isElf(path)) {
      throw manifestError(`entry '${normalised}' is not an ELF executable`);
    }
    if (!isExecutable(info)) {
      throw manifestError(
        `entry '${normalised}' is not executable (mode ${modeOf(info)}); ` +
          "zip it with its executable bit set",
      );
    }
  }
  return normalised;
}

/** Finds the entry by the naming conventions, for any type or for the one given. */
async function detectEntry(
  root: string,
  type: ProjectType | undefined,
): Promise<{ type: ProjectType; entry: string }> {
  if (type !== "cpp") {
    for (const entry of PYTHON_ENTRIES) {
      if (await isFile(`${root}/${entry}`)) return { type: "python", entry };
    }
    if (type === "python") {
      throw manifestError("found no main.py or __init__.py at the top: name the 'entry'");
    }
  }
  const atRoot = await elfFiles(root, "");
  let executables = atRoot.executables;
  const others = [...atRoot.others];
  if (executables.length === 0) {
    for (const folder of EXECUTABLE_FOLDERS) {
      const found = await elfFiles(`${root}/${folder}`, `${folder}/`);
      executables = executables.concat(found.executables);
      others.push(...found.others);
    }
  }
  if (executables.length === 1) return { type: "cpp", entry: executables[0] };
  if (executables.length > 1) {
    throw noProject(
      `found several ELF executables (${executables.join(", ")}): ` +
        `add ${MANIFEST_NAME} naming the 'entry' to run`,
    );
  }
  const hint = others.length === 0
    ? ""
    : `; ${others.join(", ")} ${others.length === 1 ? "is an ELF file" : "are ELF files"} ` +
      "without an executable bit";
  if (type === "cpp") {
    throw manifestError(`found no ELF executable at the top, in bin/ or in build/${hint}`);
  }
  throw noProject(
    "found no main.py, __init__.py or ELF executable at the top of the zip " +
      `(add ${MANIFEST_NAME} to say what to run)${hint}`,
  );
}

/** The ELF files directly in `folder`, split by whether they can be run. */
async function elfFiles(
  folder: string,
  prefix: string,
): Promise<{ executables: string[]; others: string[] }> {
  const executables: string[] = [];
  const others: string[] = [];
  try {
    for await (const entry of Deno.readDir(folder)) {
      if (!entry.isFile) continue;
      const path = `${folder}/${entry.name}`;
      if (!await isElf(path)) continue;
      const list = isExecutable(await Deno.lstat(path)) ? executables : others;
      list.push(prefix + entry.name);
    }
  } catch (error) {
    if (error instanceof AgentError) throw error;
    if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.NotADirectory) {
      return { executables, others };
    }
    throw noProject(`cannot read ${prefix || "the project folder"}: ${errorMessage(error)}`);
  }
  return { executables: executables.sort(), others: others.sort() };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.lstat(path)).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw noProject(`cannot read '${path}': ${errorMessage(error)}`);
  }
}

async function isElf(path: string): Promise<boolean> {
  const magic = new Uint8Array(ELF_MAGIC.length);
  let filled = 0;
  try {
    using file = await Deno.open(path, { read: true });
    while (filled < magic.length) {
      const count = await file.read(magic.subarray(filled));
      if (count === null) break;
      filled += count;
    }
  } catch (error) {
    throw noProject(`cannot read '${path}': ${errorMessage(error)}`);
  }
  return filled === magic.length && ELF_MAGIC.every((byte, index) => magic[index] === byte);
}

function isExecutable(info: Deno.FileInfo): boolean {
  return ((info.mode ?? 0) & 0o111) !== 0;
}

function modeOf(info: Deno.FileInfo): string {
  return ((info.mode ?? 0) & 0o777).toString(8).padStart(4, "0");
}

function noProject(state: string): AgentError {
  return new AgentError(ErrorCode.NO_PROJECT, `Cannot load project: ${state}`);
}

function manifestError(what: string): AgentError {
  return noProject(`${MANIFEST_NAME}: ${what}`);
}
