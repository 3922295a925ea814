/**
 * Reading one zip entry's data: inflated, and checked against its CRC-32 and size by
 * Deno's native gzip decoder.
 *
 * @module
 */
import { releaseBytes } from "../ipc/mod.ts";
import {
  LOCAL_HEADER_BYTES,
  LOCAL_SIGNATURE,
  readExactly,
  type ZipEntry,
  ZipFormatError,
  type ZipSource,
} from "./_zip_reader.ts";

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
  const feed = () => feedEntry(writer, source, entry, { start, end, ...options });
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

/**
 * Writes an entry to the gzip decoder as one gzip member: the header, the entry's data
 * (deflate data as it is, stored data as stored blocks), and a trailer with the CRC-32 and
 * size the zip declares.
 */
async function feedEntry(
  writer: WritableStreamDefaultWriter<BufferSource>,
  source: ZipSource,
  entry: ZipEntry,
  options: Omit<ReadDataOptions, "onData"> & { start: number; end: number },
): Promise<void> {
  const { start, end } = options;
  // Every array handed to the stream is ours alone, freed as soon as it is consumed.
  const write = async (bytes: Uint8Array<ArrayBuffer>) => {
    await writer.write(bytes);
    releaseBytes(bytes);
  };
  try {
    await write(GZIP_HEADER.slice());
    if (entry.compressionMethod === 0) {
      let at = start;
      do {
        options.signal?.throwIfAborted();
        const length = Math.min(COPY_BYTES, end - at);
        const view = length > 0 ? await source.read(at, length, options.buffer) : new Uint8Array();
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
