/**
 * Test support: minimal ELF files with chosen headers (a binary for another machine, one
 * asking for a loader that does not exist), without a cross compiler.
 *
 * @module
 */

/** What {@linkcode craftElf} writes. */
export interface CraftedElf {
  /** `e_machine`: 62 x86_64, 183 aarch64, 40 arm. */
  machine: number;
  /** `e_type`: 2 an executable (default), 3 position-independent, 1 an object file. */
  type?: number;
  /** The `PT_INTERP` program loader; none (a static executable) by default. */
  interpreter?: string;
  /** `e_phentsize`; a wrong one makes the kernel refuse to exec the file. */
  phentsize?: number;
}

/** A 64-bit little-endian ELF header, and a `PT_INTERP` program header when asked. */
export function craftElf(options: CraftedElf): Uint8Array {
  const interp = options.interpreter === undefined
    ? undefined
    : new TextEncoder().encode(`${options.interpreter}\0`);
  const headers = interp ? 1 : 0;
  const bytes = new Uint8Array(64 + headers * 56 + (interp?.length ?? 0));
  const view = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  view.setUint16(16, options.type ?? 2, true);
  view.setUint16(18, options.machine, true);
  view.setUint32(20, 1, true);
  view.setBigUint64(32, 64n, true);
  view.setUint16(52, 64, true);
  view.setUint16(54, options.phentsize ?? 56, true);
  view.setUint16(56, headers, true);
  if (interp) {
    const offset = 64 + 56;
    view.setUint32(64, 3, true);
    view.setBigUint64(64 + 8, BigInt(offset), true);
    view.setBigUint64(64 + 32, BigInt(interp.length), true);
    bytes.set(interp, offset);
  }
  return bytes;
}
