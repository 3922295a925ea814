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
import { releaseBytes } from "../ipc/mod.ts";
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
const LOCAL_SIGNATURE = 0x04034b50;
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

async function readExactly(source: ZipSource, offset: number, length: number): Promise<Uint8Array> {
  const bytes = await source.read(offset, length);
  if (bytes.length !== length) throw new ZipFormatError("the data ends early");
  return bytes;
}

/** Input per step when inflating: deflate expands at most ~1032×, so ≤ 16.5 MiB out. */
const INFLATE_INPUT_BYTES = 16 * 1024;
/** Input per step of a stored entry. */
const COPY_BYTES = 256 * 1024;
/** The most bytes one stored deflate block holds. */
const STORED_BLOCK_BYTES = 0xffff;
/** A gzip member header: deflate, no flags, no time, unknown OS. */
const GZIP_HEADER = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);

/** Where an entry's data starts, from its local header. */
async function dataOffset(source: ZipSource, entry: ZipEntry): Promise<number> {
  if (entry.offset + LOCAL_HEADER_BYTES > source.size) {
    throw new ZipFormatError("its local header lies past the end of the data");
  }
  const header = await readExactly(source, entry.offset, LOCAL_HEADER_BYTES);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (view.getUint32(0, true) !== LOCAL_SIGNATURE) {
    throw new ZipFormatError("its local header is missing");
  }
  const start = entry.offset + LOCAL_HEADER_BYTES + view.getUint16(26, true) +
    view.getUint16(28, true);
  if (start + entry.compressedSize > source.size) {
    throw new ZipFormatError("its data runs past the end of the archive");
  }
  return start;
}

/** Options of {@linkcode readEntryData}. */
export interface ReadDataOptions {
  /** Receives the entry's bytes in order; a view valid only until the returned promise settles. */
  onData(chunk: Uint8Array): Promise<void> | void;
  /** A buffer to read a file source through; reused, never kept. */
  buffer?: Uint8Array;
  signal?: AbortSignal;
}

/**
 * Streams one entry's uncompressed bytes to `onData` and checks its CRC-32 and size.
 * `onData` may throw to stop (a size budget); a corrupt entry throws
 * {@linkcode ZipFormatError}.
 *
 * The checks are native: the entry's data goes through Deno's gzip decoder, framed as a
 * gzip member whose trailer holds the CRC-32 and size the zip declares (a zip entry's
 * deflate data and CRC-32 are exactly a gzip member's; a stored entry is framed as
 * stored deflate blocks), and the decoder refuses a member whose data does not match.
 */
export async function readEntryData(
  source: ZipSource,
  entry: ZipEntry,
  options: ReadDataOptions,
): Promise<void> {
  const method = entry.compressionMethod;
  if (method !== 0 && method !== 8) {
    throw new ZipFormatError(`compression method ${method} is not supported`);
  }
  if (method === 0 && entry.compressedSize !== entry.uncompressedSize) {
    throw new SizeMismatchError(entry.uncompressedSize);
  }
  const start = await dataOffset(source, entry);
  const end = start + entry.compressedSize;
  const stream = new DecompressionStream("gzip");
  const writer = stream.writable.getWriter();
  // Every array handed to the stream is ours alone, freed as soon as it is consumed.
  const write = async (bytes: Uint8Array<ArrayBuffer>) => {
    await writer.write(bytes);
    releaseBytes(bytes);
  };
  const feed = async () => {
    try {
      await write(GZIP_HEADER.slice());
      if (method === 0) {
        let at = start;
        do {
          options.signal?.throwIfAborted();
          const length = Math.min(COPY_BYTES, end - at);
          const view = length > 0
            ? await source.read(at, length, options.buffer)
            : new Uint8Array();
          if (view.length < length) throw new ZipFormatError("the data ends early");
          at += length;
          await write(storedBlocks(view, at >= end));
        } while (at < end);
      } else if (start === end) {
        // No deflate data at all, which some writers use for an empty file.
        await write(storedBlocks(new Uint8Array(), true));
      } else {
        for (let at = start; at < end;) {
          options.signal?.throwIfAborted();
          const length = Math.min(INFLATE_INPUT_BYTES, end - at);
          const view = await source.read(at, length, options.buffer);
          if (view.length === 0) throw new ZipFormatError("the data ends early");
          at += view.length;
          await write(view.slice() as Uint8Array<ArrayBuffer>);
        }
      }
      await write(gzipTrailer(entry.crc32, entry.uncompressedSize));
      await writer.close();
    } catch (error) {
      await writer.abort(error).catch(() => undefined);
      throw error;
    }
  };
  let total = 0;
  const drain = async () => {
    for await (const chunk of stream.readable) {
      total += chunk.length;
      await options.onData(chunk);
      releaseBytes(chunk);
    }
  };
  // Whichever side fails first stops the other: the stream errors through. The drain's
  // reason comes first: when it stops (a size budget), the feed only sees the cancel.
  const [fed, drained] = await Promise.allSettled([feed(), drain()]);
  const failure = drained.status === "rejected"
    ? drained.reason
    : fed.status === "rejected"
    ? fed.reason
    : undefined;
  if (failure === undefined) return;
  if (failure instanceof Error && failure.name === "TypeError") {
    // The decoder's own refusal: the data does not match the CRC-32 or size, or is corrupt.
    if (total !== entry.uncompressedSize && !/checksum/.test(failure.message)) {
      throw new ZipFormatError(`the compressed data is corrupt (${failure.message})`);
    }
    throw total !== entry.uncompressedSize
      ? new SizeMismatchError(entry.uncompressedSize)
      : new ZipFormatError("CRC-32 mismatch");
  }
  throw failure;
}

/** `data` as stored deflate blocks, the last one final when `final`. */
function storedBlocks(data: Uint8Array, final: boolean): Uint8Array<ArrayBuffer> {
  const blocks = Math.max(1, Math.ceil(data.length / STORED_BLOCK_BYTES));
  const out = new Uint8Array(data.length + blocks * 5);
  let at = 0;
  for (let block = 0; block < blocks; block++) {
    const piece = data.subarray(block * STORED_BLOCK_BYTES, (block + 1) * STORED_BLOCK_BYTES);
    out[at] = final && block === blocks - 1 ? 1 : 0;
    out[at + 1] = piece.length & 0xff;
    out[at + 2] = piece.length >>> 8;
    out[at + 3] = ~piece.length & 0xff;
    out[at + 4] = (~piece.length >>> 8) & 0xff;
    out.set(piece, at + 5);
    at += 5 + piece.length;
  }
  return out;
}

/** A gzip trailer: the CRC-32 and the size modulo 2^32, little-endian. */
function gzipTrailer(crc: number, size: number): Uint8Array<ArrayBuffer> {
  const trailer = new Uint8Array(8);
  const view = new DataView(trailer.buffer);
  view.setUint32(0, crc >>> 0, true);
  view.setUint32(4, size % 0x100000000, true);
  return trailer;
}

/** An entry's data does not hold the bytes it declares. */
export class SizeMismatchError extends ZipFormatError {
  readonly declared: number;

  constructor(declared: number) {
    super(`the data does not hold the ${declared} bytes declared`);
    this.name = "SizeMismatchError";
    this.declared = declared;
  }
}
