/**
 * Zips built byte by byte, for the cases zip.js refuses to write: lying sizes, symlinks,
 * overlapping entries, raw name bytes, 100,000 entries. Shared by the extraction unit
 * tests and the end-to-end zip corpus.
 *
 * @module
 */

const encoder = new TextEncoder();

/** The general-purpose flag saying names are UTF-8. */
export const UTF8_FLAG = 0x0800;

/** One entry of {@linkcode rawZip}; every field that can lie is settable. */
export interface RawEntry {
  /** The name's bytes as stored: a string is written as UTF-8. */
  name: string | Uint8Array;
  data?: Uint8Array;
  /** Raw deflate bytes: the entry is then stored as deflated, `data` being ignored. */
  deflated?: Uint8Array;
  /** The uncompressed size declared in the headers, when it should lie. */
  size?: number;
  crc?: number;
  /** The Unix mode, stored in the top half of the external attributes. */
  mode?: number;
  /** The local header offset declared in the central directory, when it should lie. */
  offset?: number;
  /** The compression method to declare, when it should not match the data. */
  method?: number;
  /** General purpose flags; UTF-8 names by default. */
  flags?: number;
  /** Extra fields of the central directory record. */
  extra?: Uint8Array;
  /** The host of "version made by": 3 (Unix) by default, 0 for MS-DOS. */
  host?: number;
}

/** Builds a zip from raw entries (with zip64 end records past 65,535 entries). */
export function rawZip(entries: RawEntry[]): Uint8Array {
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = typeof entry.name === "string" ? encoder.encode(entry.name) : entry.name;
    const flags = entry.flags ?? UTF8_FLAG;
    const data = entry.deflated ?? entry.data ?? new Uint8Array();
    const size = entry.size ?? (entry.deflated ? 0 : data.length);
    const crc = entry.crc ?? crc32(entry.data ?? new Uint8Array());
    const method = entry.method ?? (entry.deflated ? 8 : 0);
    const local = new Uint8Array(30 + name.length + data.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(6, flags, true);
    lv.setUint16(8, method, true);
    lv.setUint16(12, 0x21, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, data.length, true);
    lv.setUint32(22, size, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    local.set(data, 30 + name.length);
    const extra = entry.extra ?? new Uint8Array();
    const central = new Uint8Array(46 + name.length + extra.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, ((entry.host ?? 3) << 8) | 0x1e, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(8, flags, true);
    cv.setUint16(10, method, true);
    cv.setUint16(14, 0x21, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, data.length, true);
    cv.setUint32(24, size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, extra.length, true);
    cv.setUint32(38, ((entry.mode ?? 0o100644) << 16) >>> 0, true);
    cv.setUint32(42, entry.offset ?? offset, true);
    central.set(name, 46);
    central.set(extra, 46 + name.length);
    locals.push(local);
    centrals.push(central);
    offset += local.length;
  }
  const directorySize = centrals.reduce((sum, part) => sum + part.length, 0);
  const count = entries.length;
  const tail: Uint8Array[] = [];
  if (count > 0xffff) {
    const record = new Uint8Array(56 + 20);
    const rv = new DataView(record.buffer);
    rv.setUint32(0, 0x06064b50, true);
    rv.setBigUint64(4, 44n, true);
    rv.setUint16(12, 45, true);
    rv.setUint16(14, 45, true);
    rv.setBigUint64(24, BigInt(count), true);
    rv.setBigUint64(32, BigInt(count), true);
    rv.setBigUint64(40, BigInt(directorySize), true);
    rv.setBigUint64(48, BigInt(offset), true);
    rv.setUint32(56, 0x07064b50, true);
    rv.setBigUint64(64, BigInt(offset + directorySize), true);
    rv.setUint32(72, 1, true);
    tail.push(record);
  }
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, Math.min(count, 0xffff), true);
  ev.setUint16(10, Math.min(count, 0xffff), true);
  ev.setUint32(12, directorySize, true);
  ev.setUint32(16, offset, true);
  tail.push(end);
  return concat([...locals, ...centrals, ...tail]);
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const result = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    result.set(part, offset);
    offset += part.length;
  }
  return result;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, index) => {
  let value = index;
  for (let bit = 0; bit < 8; bit++) value = value & 1 ? 0xedb88320 ^ (value >>> 1) : value >>> 1;
  return value >>> 0;
});

/** The CRC-32 a zip header declares for `data`. */
export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
