/**
 * A small zip reader: the central directory (with zip64) is parsed here; the data is
 * inflated and checked (CRC-32, size) by Deno's native gzip decoder, in slices, so a
 * deploy costs the worker's thread little and needs no library isolate.
 *
 * It reads what {@link ./_extract.ts} needs and judges nothing: names, links, sizes and
 * overlaps are that module's policy. It throws {@linkcode ZipFormatError} for anything
 * that is not a well-formed archive.
 *
 * @module
 */
import { crc32 } from "./_crc32.ts";

/** The archive is not a well-formed zip; the message says where. */
export class ZipFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ZipFormatError";
  }
}

/** Reading the source failed (a file system error, the `cause`), not its format. */
export class SourceReadError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = "SourceReadError";
  }
}

/** One central directory record. */
export interface ZipEntry {
  /** The name as decoded: UTF-8 when flagged or given by a Unicode path field, else CP437. */
  filename: string;
  /** The name's bytes as stored. */
  rawFilename: Uint8Array;
  /** Whether the UTF-8 flag (bit 11) is set. */
  filenameUTF8: boolean;
  /** A folder: the name ends with "/", or the MS-DOS folder attribute is set. */
  directory: boolean;
  /** General purpose flags; bit 0 (and bit 6) mean encrypted. */
  flags: number;
  compressionMethod: number;
  crc32: number;
  compressedSize: number;
  uncompressedSize: number;
  externalFileAttributes: number;
  /** Where its local header starts. */
  offset: number;
}

/** Random access to the archive's bytes. */
export interface ZipSource {
  readonly size: number;
  /**
   * Reads up to `length` bytes at `offset`. Returns a view that is valid until the next
   * read with the same `buffer`: the bytes themselves for an in-memory zip (no copy), else
   * `buffer` (or a new array when none is given or it is too small) filled.
   */
  read(offset: number, length: number, buffer?: Uint8Array): Promise<Uint8Array>;
}

/** A zip already in memory. */
export class BytesSource implements ZipSource {
  #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get size(): number {
    return this.#bytes.length;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    return Promise.resolve(this.#bytes.subarray(offset, offset + length));
  }
}

/** A zip file, read range by range; the caller owns and closes `file`. */
export class FileSource implements ZipSource {
  readonly size: number;
  #file: Deno.FsFile;
  #position = 0;
  /** Seek + read pairs of concurrent readers must not interleave. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(file: Deno.FsFile, size: number) {
    this.#file = file;
    this.size = size;
  }

  read(offset: number, length: number, buffer?: Uint8Array): Promise<Uint8Array> {
    const target = buffer && buffer.length >= length
      ? buffer.subarray(0, length)
      : new Uint8Array(length);
    const result = this.#queue.then(() => this.#read(offset, target));
    this.#queue = result.catch(() => undefined);
    return result;
  }

  async #read(offset: number, target: Uint8Array): Promise<Uint8Array> {
    const length = Math.max(0, Math.min(target.length, this.size - offset));
    let filled = 0;
    try {
      if (this.#position !== offset) {
        this.#position = await this.#file.seek(offset, Deno.SeekMode.Start);
      }
      while (filled < length) {
        const count = await this.#file.read(target.subarray(filled, length));
        if (count === null) break;
        filled += count;
        this.#position += count;
      }
    } catch (error) {
      this.#position = -1;
      throw new SourceReadError(error);
    }
    return target.subarray(0, filled);
  }
}

const EOCD_SIGNATURE = 0x06054b50;
const EOCD_BYTES = 22;
const ZIP64_LOCATOR_SIGNATURE = 0x07064b50;
const ZIP64_LOCATOR_BYTES = 20;
const ZIP64_EOCD_SIGNATURE = 0x06064b50;
const ZIP64_EOCD_BYTES = 56;
const CENTRAL_SIGNATURE = 0x02014b50;
const CENTRAL_BYTES = 46;
/** The signature that opens a local file header. */
export const LOCAL_SIGNATURE = 0x04034b50;
/** The fixed part of a local file header. */
export const LOCAL_HEADER_BYTES = 30;
const MAX_COMMENT_BYTES = 0xffff;
const ZIP64_EXTRA = 0x0001;
const UNICODE_PATH_EXTRA = 0x7075;
const UTF8_FLAG = 0x0800;
/** Version-made-by hosts whose external attributes carry MS-DOS bits. */
const MSDOS_HOSTS = new Set([0, 10, 14]);
const MSDOS_FOLDER = 0x10;
/** Version-made-by hosts whose names are the bytes of a Unix file name: Unix, macOS. */
const UNIX_HOSTS = new Set([3, 19]);

/** Code page 437, bytes 0x80–0xff: how zips name files when not flagged UTF-8. */
const CP437_HIGH =
  "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Decodes bytes as code page 437. */
export function decodeCp437(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) {
    text += byte < 0x80 ? String.fromCharCode(byte) : CP437_HIGH[byte - 0x80];
  }
  return text;
}

/** Where the central directory is, from the end records. */
interface Directory {
  entries: number;
  offset: number;
  size: number;
}

/**
 * Reads the central directory: every entry, in order.
 *
 * `maxEntries` is checked against the count the end record declares before the
 * directory is read, so a zip declaring millions of entries costs nothing.
 *
 * @throws {ZipFormatError} for a malformed archive.
 * @throws {RangeError} with `tooMany` set when the declared count exceeds `maxEntries`.
 */
export async function readDirectory(
  source: ZipSource,
  maxEntries: number,
): Promise<ZipEntry[]> {
  const directory = await findDirectory(source);
  if (directory.entries > maxEntries) throw new TooManyEntriesError(directory.entries);
  if (directory.offset + directory.size > source.size) {
    throw new ZipFormatError("the central directory lies past the end of the data");
  }
  const bytes = await readExactly(source, directory.offset, directory.size);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries: ZipEntry[] = [];
  let at = 0;
  for (let index = 0; index < directory.entries; index++) {
    if (at + CENTRAL_BYTES > bytes.length || view.getUint32(at, true) !== CENTRAL_SIGNATURE) {
      throw new ZipFormatError(`central directory record ${index + 1} is missing or corrupt`);
    }
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const end = at + CENTRAL_BYTES + nameLength + extraLength + commentLength;
    if (end > bytes.length) {
      throw new ZipFormatError(`central directory record ${index + 1} is truncated`);
    }
    const rawFilename = bytes.slice(at + CENTRAL_BYTES, at + CENTRAL_BYTES + nameLength);
    const extra = bytes.subarray(
      at + CENTRAL_BYTES + nameLength,
      at + CENTRAL_BYTES + nameLength + extraLength,
    );
    const flags = view.getUint16(at + 8, true);
    const entry: ZipEntry = {
      filename: "",
      rawFilename,
      filenameUTF8: (flags & UTF8_FLAG) !== 0,
      directory: false,
      flags,
      compressionMethod: view.getUint16(at + 10, true),
      crc32: view.getUint32(at + 16, true),
      compressedSize: view.getUint32(at + 20, true),
      uncompressedSize: view.getUint32(at + 24, true),
      externalFileAttributes: view.getUint32(at + 38, true),
      offset: view.getUint32(at + 42, true),
    };
    const disk = view.getUint16(at + 34, true);
    applyZip64(entry, disk, extra, index);
    const host = view.getUint16(at + 4, true) >>> 8;
    entry.filename = decodeName(entry, extra, host);
    entry.directory = entry.filename.endsWith("/") ||
      (MSDOS_HOSTS.has(host) && (entry.externalFileAttributes & MSDOS_FOLDER) !== 0);
    entries.push(entry);
    at = end;
  }
  return entries;
}

/** Thrown by {@linkcode readDirectory} when the zip declares more entries than allowed. */
export class TooManyEntriesError extends RangeError {
  readonly declared: number;

  constructor(declared: number) {
    super(`the zip declares ${declared} entries`);
    this.name = "TooManyEntriesError";
    this.declared = declared;
  }
}

async function findDirectory(source: ZipSource): Promise<Directory> {
  if (source.size < EOCD_BYTES) throw new ZipFormatError("no end of central directory record");
  const tailStart = Math.max(0, source.size - EOCD_BYTES - MAX_COMMENT_BYTES - ZIP64_LOCATOR_BYTES);
  const tail = await readExactly(source, tailStart, source.size - tailStart);
  const view = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  // The last record that fits, whose comment ends at or before the end of the data.
  for (let at = tail.length - EOCD_BYTES; at >= 0; at--) {
    if (view.getUint32(at, true) !== EOCD_SIGNATURE) continue;
    if (at + EOCD_BYTES + view.getUint16(at + 20, true) > tail.length) continue;
    const directory = {
      entries: view.getUint16(at + 10, true),
      size: view.getUint32(at + 12, true),
      offset: view.getUint32(at + 16, true),
    };
    const locator = at - ZIP64_LOCATOR_BYTES;
    if (locator >= 0 && view.getUint32(locator, true) === ZIP64_LOCATOR_SIGNATURE) {
      return await readZip64End(source, Number(view.getBigUint64(locator + 8, true)));
    }
    if (view.getUint16(at + 4, true) !== 0 || view.getUint16(at + 6, true) !== 0) {
      throw new ZipFormatError("archives split over several disks are not supported");
    }
    return directory;
  }
  throw new ZipFormatError("no end of central directory record");
}

async function readZip64End(source: ZipSource, offset: number): Promise<Directory> {
  if (offset + ZIP64_EOCD_BYTES > source.size) {
    throw new ZipFormatError("the zip64 end record lies past the end of the data");
  }
  const record = await readExactly(source, offset, ZIP64_EOCD_BYTES);
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  if (view.getUint32(0, true) !== ZIP64_EOCD_SIGNATURE) {
    throw new ZipFormatError("the zip64 end record is missing");
  }
  if (view.getUint32(16, true) !== 0 || view.getUint32(20, true) !== 0) {
    throw new ZipFormatError("archives split over several disks are not supported");
  }
  const number = (at: number) => {
    const value = view.getBigUint64(at, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ZipFormatError("a zip64 size is out of range");
    }
    return Number(value);
  };
  return { entries: number(32), size: number(40), offset: number(48) };
}

/** Replaces 0xffffffff sizes and offset with their zip64 extra field values. */
function applyZip64(entry: ZipEntry, disk: number, extra: Uint8Array, index: number): void {
  const wanted: ("uncompressedSize" | "compressedSize" | "offset")[] = [];
  if (entry.uncompressedSize === 0xffffffff) wanted.push("uncompressedSize");
  if (entry.compressedSize === 0xffffffff) wanted.push("compressedSize");
  if (entry.offset === 0xffffffff) wanted.push("offset");
  const field = wanted.length > 0 || disk === 0xffff ? extraField(extra, ZIP64_EXTRA) : undefined;
  if (wanted.length > 0 && (!field || field.length < wanted.length * 8)) {
    throw new ZipFormatError(`central directory record ${index + 1} lacks its zip64 sizes`);
  }
  const view = field && new DataView(field.buffer, field.byteOffset, field.byteLength);
  const diskNumber = disk !== 0xffff
    ? disk
    : view && field.length >= wanted.length * 8 + 4
    ? view.getUint32(wanted.length * 8, true)
    : 0;
  if (diskNumber !== 0) {
    throw new ZipFormatError("archives split over several disks are not supported");
  }
  if (!view) return;
  wanted.forEach((name, slot) => {
    const value = view.getBigUint64(slot * 8, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ZipFormatError("a zip64 size is out of range");
    }
    entry[name] = Number(value);
  });
}

/** The data of the first extra field with `id`, if any. */
function extraField(extra: Uint8Array, id: number): Uint8Array | undefined {
  const view = new DataView(extra.buffer, extra.byteOffset, extra.byteLength);
  for (let at = 0; at + 4 <= extra.length;) {
    const length = view.getUint16(at + 2, true);
    if (view.getUint16(at, true) === id) return extra.subarray(at + 4, at + 4 + length);
    at += 4 + length;
  }
  return undefined;
}

/**
 * A flagged name must be UTF-8 (the caller refuses one that is not, see `filenameUTF8`).
 * An unflagged one is taken from an Info-ZIP Unicode path field for these exact bytes if
 * there is one; else, made on Unix or macOS, it is the bytes of the maker's file name, so
 * UTF-8 when valid (Debian's `zip -r` writes names so, as unzip and bsdtar read them);
 * else CP437, the zip format's default.
 */
function decodeName(entry: ZipEntry, extra: Uint8Array, host: number): string {
  const raw = entry.rawFilename;
  if (entry.filenameUTF8) {
    try {
      return strictUtf8.decode(raw);
    } catch {
      return new TextDecoder().decode(raw);
    }
  }
  const unicode = extraField(extra, UNICODE_PATH_EXTRA);
  if (unicode && unicode.length > 5 && unicode[0] === 1) {
    const view = new DataView(unicode.buffer, unicode.byteOffset, unicode.byteLength);
    if (view.getUint32(1, true) === crc32(raw)) {
      try {
        return strictUtf8.decode(unicode.subarray(5));
      } catch {
        // A broken Unicode field: fall back to the stored bytes.
      }
    }
  }
  if (UNIX_HOSTS.has(host)) {
    try {
      return strictUtf8.decode(raw);
    } catch {
      // Not UTF-8: an old or Windows-made name, read as the format's default below.
    }
  }
  return decodeCp437(raw);
}

/** Whether a name that claims to be UTF-8 really is. */
export function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** Reads exactly `length` bytes at `offset`, or throws that the data ends early. */
export async function readExactly(
  source: ZipSource,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const bytes = await source.read(offset, length);
  if (bytes.length !== length) throw new ZipFormatError("the data ends early");
  return bytes;
}
