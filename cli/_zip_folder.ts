/**
 * Zips a project folder for `deploy`: what the built-in rules and the folder's
 * `.robotignore` leave out stays out (client/_ignore.ts); Unix modes are kept, so
 * a C++ executable stays executable. Entries are sorted and dated by the files' times,
 * so the same folder gives the same zip, and a re-run resumes an interrupted upload.
 *
 * @module
 */
import { Uint8ArrayReader, Uint8ArrayWriter, ZipWriter } from "@zip.js/zip.js";
import { joinPath as join } from "../paths.ts";
import { folderRules, type IgnoreRule, isIgnored } from "../client/mod.ts";

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
  const rules = folderRules(text);
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
