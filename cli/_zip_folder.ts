/**
 * Zips a project folder for `deploy`: `.git`, `__pycache__`, `*.pyc` and what the
 * folder's `.robotignore` lists (gitignore-style globs) stay out; Unix modes are kept, so
 * a C++ executable stays executable. Entries are sorted and dated by the files' times,
 * so the same folder gives the same zip, and a re-run resumes an interrupted upload.
 *
 * @module
 */
import { Uint8ArrayReader, Uint8ArrayWriter, ZipWriter } from "@zip.js/zip.js";
import { joinPath as join } from "../paths.ts";

/** The rules every deploy applies before the folder's own `.robotignore`. */
export const BUILT_IN_IGNORES: readonly string[] = [
  ".git/",
  "__pycache__/",
  "*.pyc",
  "/.robotignore",
];

/** One line of an ignore file. */
export interface IgnoreRule {
  /** The pattern as written. */
  readonly pattern: string;
  /** Matches a path relative to the folder, `/`-separated. */
  readonly regex: RegExp;
  /** `!pattern`: takes back an earlier rule's exclusion. */
  readonly negate: boolean;
  /** `pattern/`: matches folders only. */
  readonly folderOnly: boolean;
}

function globToRegex(glob: string, anchored: boolean): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*" && glob[i + 1] === "*") {
      const slashAfter = glob[i + 2] === "/";
      out += slashAfter ? "(?:.*/)?" : ".*";
      i += slashAfter ? 2 : 1;
    } else if (c === "*") {
      out += "[^/]*";
    } else if (c === "?") {
      out += "[^/]";
    } else if (c === "[") {
      const close = glob.indexOf("]", i + 2);
      if (close < 0) {
        out += "\\[";
        continue;
      }
      const body = glob.slice(i + 1, close).replace(/^!/, "^").replace(/\\/g, "\\\\");
      out += `[${body}]`;
      i = close;
    } else if (c === "\\" && i + 1 < glob.length) {
      out += glob[++i].replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else {
      out += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    }
  }
  return new RegExp(`${anchored ? "^" : "^(?:.*/)?"}${out}$`);
}

/** Parses ignore rules: one glob a line, `#` comments, `!` negation, `/` anchoring. */
export function parseIgnore(text: string): IgnoreRule[] {
  const rules: IgnoreRule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = raw.replace(/(?<!\\)\s+$/, "");
    if (line === "" || line.startsWith("#")) continue;
    const negate = line.startsWith("!");
    if (negate) line = line.slice(1);
    const folderOnly = line.endsWith("/");
    if (folderOnly) line = line.replace(/\/+$/, "");
    // A slash at the start or in the middle ties the pattern to the folder's top.
    const anchored = line.includes("/");
    const glob = line.replace(/^\//, "");
    if (glob === "") continue;
    rules.push({ pattern: raw.trim(), regex: globToRegex(glob, anchored), negate, folderOnly });
  }
  return rules;
}

/** Whether `path` (relative, `/`-separated) is left out by `rules`: the last match wins. */
export function isIgnored(path: string, isFolder: boolean, rules: readonly IgnoreRule[]): boolean {
  let ignored = false;
  for (const rule of rules) {
    if (rule.folderOnly && !isFolder) continue;
    if (rule.regex.test(path)) ignored = !rule.negate;
  }
  return ignored;
}

/** A zipped folder. */
export interface ZippedFolder {
  /** The zip's bytes. */
  zip: Uint8Array;
  /** The paths zipped, in order. */
  files: string[];
  /** Their total size before compression. */
  bytes: number;
  /** Files and folders left out by the ignore rules. */
  skipped: number;
  /** What could not be zipped and was left out (links to folders). */
  warnings: string[];
}

interface Found {
  files: { path: string; absolute: string }[];
  skipped: number;
  warnings: string[];
}

async function walk(root: string, relative: string, rules: IgnoreRule[], found: Found) {
  const folder = relative === "" ? root : join(root, relative);
  const entries = [];
  for await (const entry of Deno.readDir(folder)) entries.push(entry);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    const path = relative === "" ? entry.name : `${relative}/${entry.name}`;
    const absolute = join(root, path);
    let isFolder = entry.isDirectory;
    if (entry.isSymlink) {
      const target = await Deno.stat(absolute).catch(() => undefined);
      if (!target || target.isDirectory) {
        found.warnings.push(
          `${path}: ${target ? "a link to a folder" : "a broken link"}, left out`,
        );
        continue;
      }
      isFolder = false;
    }
    if (isIgnored(path, isFolder, rules)) {
      found.skipped++;
    } else if (isFolder) {
      await walk(root, path, rules, found);
    } else {
      found.files.push({ path, absolute });
    }
  }
}

/**
 * Zips the folder `root`.
 *
 * @throws {Deno.errors.NotFound} when it does not exist.
 * @throws {RangeError} when every file in it is left out.
 */
export async function zipFolder(
  root: string,
  options: { signal?: AbortSignal } = {},
): Promise<ZippedFolder> {
  let text = "";
  try {
    text = await Deno.readTextFile(join(root, ".robotignore"));
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  const rules = [...parseIgnore(BUILT_IN_IGNORES.join("\n")), ...parseIgnore(text)];
  const found: Found = { files: [], skipped: 0, warnings: [] };
  await walk(root, "", rules, found);
  if (found.files.length === 0) {
    throw new RangeError(`Cannot zip ${root}: no files to deploy (all ignored, or empty)`);
  }
  const writer = new ZipWriter(new Uint8ArrayWriter(), { useWebWorkers: false });
  let bytes = 0;
  for (const file of found.files) {
    options.signal?.throwIfAborted();
    const [content, info] = await Promise.all([
      Deno.readFile(file.absolute),
      Deno.stat(file.absolute),
    ]);
    bytes += content.length;
    await writer.add(file.path, new Uint8ArrayReader(content), {
      level: 6,
      lastModDate: info.mtime ?? new Date(0),
      extendedTimestamp: false,
      externalFileAttributes: (((info.mode ?? 0o644) & 0o777) | 0o100000) << 16,
      versionMadeBy: 0x031e,
    });
  }
  const zip = await writer.close();
  return {
    zip,
    files: found.files.map((f) => f.path),
    bytes,
    skipped: found.skipped,
    warnings: found.warnings,
  };
}
