/**
 * Zips a dropped folder in the browser: deflate through the browser's own
 * `CompressionStream` (stored when that does not help), Unix modes kept (an ELF file or
 * a script with `#!` is made executable, as the browser knows no modes), entries sorted
 * so the same folder gives the same zip, and a re-drop resumes an interrupted upload.
 *
 * @module
 */
import { folderRules, isIgnoredFile } from "../client/mod.ts";

/** One file for the zip. */
export interface ZipInput {
  /** `/`-separated, relative to the project folder. */
  path: string;
  data: Uint8Array;
  /** When it was last changed (ms since the epoch). */
  modified: number;
}

/**
 * The files a deploy keeps: what the command line keeps of the same folder, by the same
 * rules (the built-in ones, then the folder's own `.robotignore`; client/_ignore.ts).
 */
export function keptFiles(files: readonly ZipInput[]): ZipInput[] {
  const robotignore = files.find((f) => f.path === ".robotignore");
  const rules = folderRules(robotignore ? new TextDecoder().decode(robotignore.data) : "");
  return files.filter((f) => !isIgnoredFile(f.path, rules));
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** The CRC-32 of `data`, as zip wants it. */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = CRC_TABLE[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

async function deflate(data: Uint8Array): Promise<Uint8Array | undefined> {
  if (typeof CompressionStream === "undefined") return undefined;
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(
    new CompressionStream("deflate-raw"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function modeOf(data: Uint8Array): number {
  const elf = data[0] === 0x7f && data[1] === 0x45 && data[2] === 0x4c && data[3] === 0x46;
  const script = data[0] === 0x23 && data[1] === 0x21;
  return elf || script ? 0o100755 : 0o100644;
}

function dosTime(ms: number): { time: number; date: number } {
  const d = new Date(Math.max(ms, Date.UTC(1980, 0, 2)));
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | (d.getSeconds() >> 1),
    date: ((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

function header(size: number, fill: (view: DataView) => void): Uint8Array {
  const bytes = new Uint8Array(size);
  fill(new DataView(bytes.buffer));
  return bytes;
}

/** A zip of `files` (sorted by path; what {@linkcode keptFiles} drops left out). */
export async function zipFiles(files: ZipInput[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const sorted = keptFiles(files)
    .sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  for (const file of sorted) {
    const name = new TextEncoder().encode(file.path);
    const packed = await deflate(file.data);
    const deflated = packed !== undefined && packed.length < file.data.length;
    const body = deflated ? packed : file.data;
    const crc = crc32(file.data);
    const { time, date } = dosTime(file.modified);
    const common = (v: DataView, at: number) => {
      v.setUint16(at, 20, true); // version needed
      v.setUint16(at + 2, 0x0800, true); // UTF-8 names
      v.setUint16(at + 4, deflated ? 8 : 0, true);
      v.setUint16(at + 6, time, true);
      v.setUint16(at + 8, date, true);
      v.setUint32(at + 10, crc, true);
      v.setUint32(at + 14, body.length, true);
      v.setUint32(at + 18, file.data.length, true);
      v.setUint16(at + 22, name.length, true);
    };
    parts.push(
      header(30, (v) => {
        v.setUint32(0, 0x04034b50, true);
        common(v, 4);
      }),
      name,
      body,
    );
    central.push(
      header(46, (v) => {
        v.setUint32(0, 0x02014b50, true);
        v.setUint16(4, (3 << 8) | 20, true); // made by: Unix, so the mode below counts
        common(v, 6);
        v.setUint32(38, modeOf(file.data) * 0x10000, true);
        v.setUint32(42, offset, true);
      }),
      name,
    );
    offset += 30 + name.length + body.length;
  }
  const centralSize = central.reduce((n, part) => n + part.length, 0);
  const end = header(22, (v) => {
    v.setUint32(0, 0x06054b50, true);
    v.setUint16(8, sorted.length, true);
    v.setUint16(10, sorted.length, true);
    v.setUint32(12, centralSize, true);
    v.setUint32(16, offset, true);
  });
  return new Uint8Array(await new Blob([...parts, ...central, end] as BlobPart[]).arrayBuffer());
}

/** The files of a dropped folder with its top folder's name taken off their paths. */
export function withoutTopFolder(files: ZipInput[]): ZipInput[] {
  const tops = new Set(files.map((f) => f.path.split("/")[0]));
  const single = tops.size === 1 && files.every((f) => f.path.includes("/"));
  return single ? files.map((f) => ({ ...f, path: f.path.slice(f.path.indexOf("/") + 1) })) : files;
}
