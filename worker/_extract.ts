/**
 * Safe extraction of an uploaded project zip into an empty folder.
 *
 * Every entry's metadata is validated before anything is written: names that escape the
 * folder, links, encryption, duplicates, case clashes and the size limits are refused up
 * front. The data is then streamed entry by entry to disk while the bytes actually written
 * are counted, because the sizes in the headers can lie.
 *
 * @module
 */

import { AgentError, ErrorCode, errorMessage } from "../errors.ts";
import {
  BytesSource,
  FileSource,
  isValidUtf8,
  LOCAL_HEADER_BYTES,
  readDirectory,
  SourceReadError,
  TooManyEntriesError,
  type ZipEntry,
  type ZipSource,
} from "./_zip_reader.ts";
import { readEntryData, SizeMismatchError } from "./_zip_data.ts";

/** The limits an archive must stay within to be extracted. */
export interface ExtractLimits {
  /** The most entries (files and folders) the zip may hold. */
  maxEntries: number;
  /** The most bytes the files may hold once extracted, declared or actually written. */
  maxUncompressedBytes: number;
  /**
   * The highest total uncompressed / compressed size ratio; only enforced once the files
   * hold more than 1 MiB, so a few small, very compressible text files always pass.
   */
  maxRatio: number;
}

/** Options of {@link extractZip}. */
export interface ExtractOptions extends ExtractLimits {
  /** Stops the extraction; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** What {@link extractZip} wrote. */
export interface ExtractResult {
  /** The number of entries in the zip, folders included. */
  entries: number;
  /** The number of files written. */
  files: number;
  /** The number of bytes written to those files. */
  bytes: number;
}

const MIB = 1024 * 1024;
const MAX_COMPONENT_BYTES = 255;
const MAX_PATH_BYTES = 1024;
const MAX_NAME_IN_MESSAGE = 120;
const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const FILE_MODE = 0o644;
const FOLDER_MODE = 0o755;
/** Stored and deflated: what zip tools write for project files. */
const SUPPORTED_METHODS = new Set([0, 8]);
const WRITE_CONCURRENCY = 4;
/** Each concurrent writer reads a file-backed zip through a buffer of this size. */
const READ_BUFFER_BYTES = 256 * 1024;
/** General purpose flags: encrypted (bit 0), strong encryption (bit 6). */
const ENCRYPTED_FLAGS = 0x41;

const encoder = new TextEncoder();

/**
 * Extracts a zip into `dest` (an existing empty folder), refusing anything unsafe.
 *
 * `source` is the zip itself, or the path of a zip file, which is then read range by range
 * rather than loaded whole. All entries are validated before the first byte is written;
 * when writing fails part way, whatever was written is removed again, so a refused zip
 * leaves `dest` as it was. Files with an execute bit in their Unix mode get 0o755, others
 * 0o644; folders get 0o755.
 *
 * @throws {AgentError} BAD_ZIP, EMPTY_ZIP, UNSAFE_ZIP, ZIP_TOO_LARGE or STORAGE_ERROR, with a
 * message of the form `Cannot extract project: <state>`.
 */
export async function extractZip(
  source: Uint8Array | string,
  dest: string,
  options: ExtractOptions,
): Promise<ExtractResult> {
  const { signal } = options;
  signal?.throwIfAborted();
  if (typeof source !== "string") {
    return await extractFrom(new BytesSource(source), dest, options);
  }
  let file: Deno.FsFile;
  let size: number;
  try {
    file = await Deno.open(source, { read: true });
  } catch (error) {
    throw storageError(`cannot open ${quote(source)}`, error);
  }
  try {
    try {
      size = (await file.stat()).size;
    } catch (error) {
      throw storageError(`cannot read ${quote(source)}`, error);
    }
    return await extractFrom(new FileSource(file, size), dest, options);
  } finally {
    file.close();
  }
}

async function extractFrom(
  source: ZipSource,
  dest: string,
  options: ExtractOptions,
): Promise<ExtractResult> {
  const entries = await readEntries(source, options);
  const plan = planExtraction(entries, options);
  const created: string[] = [];
  try {
    return await writePlan(source, plan, dest, created, options);
  } catch (error) {
    for (const name of created) {
      await Deno.remove(`${dest}/${name}`, { recursive: true }).catch(() => undefined);
    }
    throw error;
  }
}

async function readEntries(source: ZipSource, options: ExtractOptions): Promise<ZipEntry[]> {
  let entries: ZipEntry[];
  try {
    entries = await readDirectory(source, options.maxEntries);
  } catch (error) {
    if (error instanceof TooManyEntriesError) {
      throw new AgentError(
        ErrorCode.ZIP_TOO_LARGE,
        `Cannot extract project: the zip holds more than ${options.maxEntries} entries, the limit`,
      );
    }
    if (error instanceof SourceReadError) throw storageError("cannot read the zip file", error);
    throw new AgentError(
      ErrorCode.BAD_ZIP,
      `Cannot extract project: the data is not a zip archive (${errorMessage(error)})`,
      { cause: error },
    );
  }
  options.signal?.throwIfAborted();
  return entries;
}

interface PlannedFile {
  entry: ZipEntry;
  /** Relative, normalised path: segments joined with "/". */
  path: string;
  mode: number;
}

interface Plan {
  entries: number;
  /** Every folder to create, parents before children. */
  folders: string[];
  files: PlannedFile[];
}

/** Validates all the metadata and decides what to write, without touching the disk. */
function planExtraction(entries: ZipEntry[], limits: ExtractLimits): Plan {
  const names = new Map<string, string>();
  const folders = new Map<string, string>();
  const files: PlannedFile[] = [];
  let declaredBytes = 0;
  let compressedBytes = 0;
  for (const entry of entries) {
    const segments = normalisedPath(entry.filename);
    checkEntryKind(entry);
    const path = segments.join("/");
    if (path === "") {
      if (entry.directory || isBackslashFolder(entry)) continue;
      throw unsafe(`entry ${quote(entry.filename)} has an empty name`);
    }
    const key = foldName(path);
    const previous = names.get(key);
    if (previous === path) {
      throw unsafe(`entry ${quote(path)} appears more than once`);
    }
    if (previous !== undefined) {
      throw unsafe(`entries ${quote(previous)} and ${quote(path)} differ only in letter case`);
    }
    names.set(key, path);
    const isFolder = entry.directory || isBackslashFolder(entry);
    const parents = isFolder ? segments.length : segments.length - 1;
    for (let count = 1; count <= parents; count++) {
      addFolder(folders, segments.slice(0, count).join("/"));
    }
    if (!isFolder && !entry.directory) {
      files.push({ entry, path, mode: fileMode(entry) });
      declaredBytes += entry.uncompressedSize;
      compressedBytes += entry.compressedSize;
    }
  }
  for (const file of files) {
    if (folders.has(foldName(file.path))) {
      throw unsafe(`entry ${quote(file.path)} is both a file and a folder`);
    }
  }
  checkOverlaps(entries);
  if (files.length === 0) {
    throw new AgentError(
      ErrorCode.EMPTY_ZIP,
      entries.length === 0
        ? "Cannot extract project: the zip holds no entries"
        : "Cannot extract project: the zip holds only folders, no files",
    );
  }
  checkSizes(declaredBytes, compressedBytes, limits);
  return { entries: entries.length, folders: [...folders.values()], files };
}

/** Splits a name on both separators and refuses anything that could leave the folder. */
function normalisedPath(name: string): string[] {
  if (name.includes("\0")) {
    throw unsafe(`entry ${quote(name)} has a NUL byte in its name`);
  }
  if (/^[\\/]/.test(name) || /^[A-Za-z]:/.test(name)) {
    throw unsafe(`entry ${quote(name)} has an absolute path`);
  }
  const segments = name.split(/[\\/]/).filter((segment) => segment !== "" && segment !== ".");
  if (segments.includes("..")) {
    throw unsafe(`entry ${quote(name)} escapes the project folder`);
  }
  let pathBytes = segments.length - 1;
  for (const segment of segments) {
    const bytes = encoder.encode(segment).length;
    if (bytes > MAX_COMPONENT_BYTES) {
      throw unsafe(
        `entry ${quote(name)} has a name part of ${bytes} bytes, over ${MAX_COMPONENT_BYTES}`,
      );
    }
    pathBytes += bytes;
  }
  if (pathBytes > MAX_PATH_BYTES) {
    throw unsafe(`entry ${quote(name)} has a path of ${pathBytes} bytes, over ${MAX_PATH_BYTES}`);
  }
  return segments;
}

function checkEntryKind(entry: ZipEntry): void {
  if (entry.filenameUTF8 && !isValidUtf8(entry.rawFilename)) {
    // Decoding would substitute U+FFFD: the file on disk would not be the one named.
    throw unsafe(`entry ${quote(entry.filename)} is flagged UTF-8 but its name is not`);
  }
  const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
  if (type === S_IFLNK) {
    throw unsafe(`entry ${quote(entry.filename)} is a symbolic link`);
  }
  if ((entry.flags & ENCRYPTED_FLAGS) !== 0) {
    throw unsafe(`entry ${quote(entry.filename)} is encrypted`);
  }
  if (!entry.directory && !SUPPORTED_METHODS.has(entry.compressionMethod)) {
    throw new AgentError(
      ErrorCode.BAD_ZIP,
      `Cannot extract project: entry ${
        quote(entry.filename)
      } uses compression method ${entry.compressionMethod}, which is not supported`,
    );
  }
}

/** Old Windows tools write folders as empty entries named with a trailing backslash. */
function isBackslashFolder(entry: ZipEntry): boolean {
  return entry.filename.endsWith("\\") && entry.uncompressedSize === 0;
}

/** The key under which two names collide on a case-insensitive file system. */
function foldName(path: string): string {
  return path.normalize("NFC").toLowerCase();
}

function addFolder(folders: Map<string, string>, path: string): void {
  const key = foldName(path);
  const known = folders.get(key);
  if (known === undefined) {
    folders.set(key, path);
  } else if (known !== path) {
    throw unsafe(`folders ${quote(known)} and ${quote(path)} differ only in letter case`);
  }
}

/**
 * 0o755 for an executable (any execute bit in its Unix mode), else 0o644: whatever the zip
 * says, a deployed file is readable by the project's user and writable by the agent alone
 * (docs/security.md), so a project cannot change its stored versions.
 */
function fileMode(entry: ZipEntry): number {
  const permissions = (entry.externalFileAttributes >>> 16) & 0o777;
  return (permissions & 0o111) !== 0 ? FOLDER_MODE : FILE_MODE;
}

/** Refuses entries sharing compressed bytes, the trick of the densest zip bombs. */
function checkOverlaps(entries: ZipEntry[]): void {
  const byOffset = entries.toSorted((a, b) => a.offset - b.offset);
  for (let index = 1; index < byOffset.length; index++) {
    const before = byOffset[index - 1];
    const after = byOffset[index];
    if (before.offset + LOCAL_HEADER_BYTES + before.compressedSize > after.offset) {
      throw unsafe(`entries ${quote(before.filename)} and ${quote(after.filename)} overlap`);
    }
  }
}

function checkSizes(declared: number, compressed: number, limits: ExtractLimits): void {
  if (declared > limits.maxUncompressedBytes) {
    throw new AgentError(
      ErrorCode.ZIP_TOO_LARGE,
      `Cannot extract project: the files hold ${declared} bytes, over the limit of ${limits.maxUncompressedBytes}`,
    );
  }
  const ratio = declared / compressed;
  if (declared > MIB && ratio > limits.maxRatio) {
    throw new AgentError(
      ErrorCode.ZIP_TOO_LARGE,
      `Cannot extract project: ${compressed} compressed bytes expand to ${declared} (ratio ${
        Math.round(ratio)
      }), over the limit of ${limits.maxRatio}`,
    );
  }
}

async function writePlan(
  source: ZipSource,
  plan: Plan,
  dest: string,
  created: string[],
  options: ExtractOptions,
): Promise<ExtractResult> {
  for (const folder of plan.folders) {
    const path = `${dest}/${folder}`;
    try {
      await Deno.mkdir(path, { mode: FOLDER_MODE });
      if (!folder.includes("/")) created.push(folder);
      await Deno.chmod(path, FOLDER_MODE);
    } catch (error) {
      throw storageError(`cannot create folder ${quote(folder)}`, error);
    }
  }
  const budget: Budget = { written: 0, limit: options.maxUncompressedBytes };
  // Creating a file costs far more than writing a small one, so a few are written at once;
  // every writer has settled before this returns, so a failure can be cleaned up safely.
  const pending = plan.files.values();
  let failure: { error: unknown } | undefined;
  const writeNext = async () => {
    // A file-backed zip is read through one buffer per writer, reused from file to file.
    const buffer = source instanceof FileSource ? new Uint8Array(READ_BUFFER_BYTES) : undefined;
    for (const file of pending) {
      if (failure) return;
      try {
        await writeFile(source, file, dest, { budget, created, buffer, signal: options.signal });
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: WRITE_CONCURRENCY }, writeNext));
  if (failure) throw failure.error;
  return { entries: plan.entries, files: plan.files.length, bytes: budget.written };
}

interface Budget {
  written: number;
  limit: number;
}

async function writeFile(
  source: ZipSource,
  { entry, path, mode }: PlannedFile,
  dest: string,
  options: { budget: Budget; created: string[]; buffer?: Uint8Array; signal?: AbortSignal },
): Promise<void> {
  const { signal, budget } = options;
  signal?.throwIfAborted();
  const target = `${dest}/${path}`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(target, { write: true, createNew: true, mode });
  } catch (error) {
    throw storageError(`cannot create file ${quote(path)}`, error);
  }
  if (!path.includes("/")) options.created.push(path);
  let written = 0;
  // Sizes in headers can lie: every byte is counted before it is written.
  const onData = async (chunk: Uint8Array) => {
    budget.written += chunk.length;
    if (budget.written > budget.limit) {
      throw new AgentError(
        ErrorCode.ZIP_TOO_LARGE,
        `Cannot extract project: the files expand past the limit of ${budget.limit} bytes`,
      );
    }
    written += chunk.length;
    if (written > entry.uncompressedSize) throw new SizeMismatchError(entry.uncompressedSize);
    try {
      let offset = 0;
      while (offset < chunk.length) offset += await file.write(chunk.subarray(offset));
    } catch (error) {
      throw storageError(`cannot write ${quote(path)}`, error);
    }
  };
  try {
    await readEntryData(source, entry, { onData, buffer: options.buffer, signal });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    throw entryError(path, error);
  } finally {
    file.close();
  }
  try {
    await Deno.chmod(target, mode);
  } catch (error) {
    throw storageError(`cannot set the mode of ${quote(path)}`, error);
  }
}

function entryError(path: string, error: unknown): AgentError {
  if (error instanceof AgentError) return error;
  if (error instanceof SizeMismatchError) return declaredSizeError(path, error.declared);
  if (error instanceof SourceReadError) return storageError("cannot read the zip file", error);
  return new AgentError(
    ErrorCode.BAD_ZIP,
    `Cannot extract project: entry ${quote(path)} is corrupt (${errorMessage(error)})`,
    { cause: error },
  );
}

function declaredSizeError(path: string, declared: number): AgentError {
  return new AgentError(
    ErrorCode.BAD_ZIP,
    `Cannot extract project: entry ${quote(path)} does not hold the ${declared} bytes it declares`,
  );
}

function unsafe(state: string): AgentError {
  return new AgentError(ErrorCode.UNSAFE_ZIP, `Cannot extract project: ${state}`);
}

function storageError(what: string, error: unknown): AgentError {
  return new AgentError(
    ErrorCode.STORAGE_ERROR,
    `Cannot extract project: ${what}: ${errorMessage(error)}`,
    { cause: error },
  );
}

/** Quotes a name from the zip for a message: control characters escaped, length capped. */
function quote(name: string): string {
  const shown = name.length > MAX_NAME_IN_MESSAGE ? `${name.slice(0, MAX_NAME_IN_MESSAGE)}…` : name;
  let escaped = "";
  for (const char of shown) {
    const code = char.charCodeAt(0);
    escaped += code < 0x20 || code === 0x7f ? `\\u${code.toString(16).padStart(4, "0")}` : char;
  }
  return `'${escaped}'`;
}
