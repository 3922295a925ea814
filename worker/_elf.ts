/**
 * Whether a C++ project's executable can run on this machine, checked at UPDATE rather
 * than discovered at START: its ELF header must name this machine's architecture, and the
 * program loader it asks for (`PT_INTERP`, e.g. `/lib/ld-linux-aarch64.so.1`) must exist.
 *
 * @module
 */
import { AgentError, ErrorCode, errorMessage } from "../errors.ts";

/** `e_machine` values by name, for messages; the two this agent runs on first. */
const MACHINES: Record<number, string> = {
  62: "x86_64",
  183: "aarch64",
  3: "x86 (32-bit)",
  8: "mips",
  20: "powerpc",
  21: "powerpc64",
  40: "arm (32-bit)",
  243: "riscv",
};

/** This machine's `e_machine`, by `Deno.build.arch`. */
const HOST_MACHINES: Record<string, number> = { x86_64: 62, aarch64: 183 };

const ET_REL = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
const PT_INTERP = 3;
/** Bounds on what is read, whatever the header claims. */
const MAX_PROGRAM_HEADERS_BYTES = 64 * 1024;
const MAX_INTERPRETER_BYTES = 4096;

/** What an ELF file's headers say about running it. */
export interface ElfInfo {
  /** 32 or 64 (`EI_CLASS`). */
  bits: 32 | 64;
  littleEndian: boolean;
  /** `e_type`: 2 an executable, 3 a position-independent one (or a shared library). */
  type: number;
  /** `e_machine`: 62 x86_64, 183 aarch64. */
  machine: number;
  /** The program loader it names (`PT_INTERP`); null for a static executable. */
  interpreter: string | null;
}

/** Options for {@linkcode checkExecutable}. */
export interface CheckExecutableOptions {
  /** This machine's architecture as `Deno.build.arch` names it; by default this one's. */
  arch?: string;
  /** Whether a file exists on this machine (the loader); {@linkcode hostFileExists} by default. */
  exists?: (path: string) => Promise<boolean>;
}

/**
 * Checks that the ELF executable `entry` (relative to `root`) can run here.
 *
 * @throws {AgentError} `WRONG_ARCH` naming both architectures when it is built for another
 * machine; `NO_PROJECT` when it is no executable (an object file) or its loader is missing.
 */
export async function checkExecutable(
  root: string,
  entry: string,
  options: CheckExecutableOptions = {},
): Promise<void> {
  let info: ElfInfo;
  try {
    info = await readElf(`${root}/${entry}`);
  } catch (error) {
    throw refused(
      ErrorCode.NO_PROJECT,
      `'${entry}' is not a valid ELF file (${errorMessage(error)})`,
    );
  }
  const arch = options.arch ?? Deno.build.arch;
  const expected = HOST_MACHINES[arch];
  if (expected !== undefined && (info.machine !== expected || !info.littleEndian)) {
    const built = machineName(info.machine) + (info.littleEndian ? "" : " (big-endian)");
    throw refused(
      ErrorCode.WRONG_ARCH,
      `'${entry}' is built for ${built}, but this machine is ${arch}: build it for ${arch}`,
      { entry, built_for: built, machine: arch },
    );
  }
  if (info.type === ET_REL) {
    throw refused(ErrorCode.NO_PROJECT, `'${entry}' is an object file, not an executable: link it`);
  }
  if (info.type !== ET_EXEC && info.type !== ET_DYN) {
    throw refused(ErrorCode.NO_PROJECT, `'${entry}' is not an executable (ELF type ${info.type})`);
  }
  const loader = info.interpreter;
  if (loader !== null && !await (options.exists ?? hostFileExists())(loader)) {
    throw refused(
      ErrorCode.NO_PROJECT,
      `'${entry}' needs the program loader ${loader}, which this machine does not have: ` +
        "link it statically, or build it against this system's C library",
      { entry, loader },
    );
  }
}

/** Reads an ELF file's identification, type, machine and program loader. */
export async function readElf(path: string): Promise<ElfInfo> {
  using file = await Deno.open(path, { read: true });
  const header = await readAt(file, 0, 64);
  if (header.length < 20 || header[0] !== 0x7f || header[1] !== 0x45) {
    throw new SyntaxError("no ELF header");
  }
  const bits = header[4] === 1 ? 32 : header[4] === 2 ? 64 : undefined;
  const order = header[5];
  if (bits === undefined || (order !== 1 && order !== 2)) {
    throw new SyntaxError(`unknown ELF class ${header[4]} or byte order ${order}`);
  }
  const littleEndian = order === 1;
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const type = view.getUint16(16, littleEndian);
  const machine = view.getUint16(18, littleEndian);
  const base = { bits, littleEndian, type, machine } as const;
  if (header.length < (bits === 64 ? 64 : 52)) return { ...base, interpreter: null };
  const phoff = bits === 64
    ? Number(view.getBigUint64(32, littleEndian))
    : view.getUint32(28, littleEndian);
  const phentsize = view.getUint16(bits === 64 ? 54 : 42, littleEndian);
  const phnum = view.getUint16(bits === 64 ? 56 : 44, littleEndian);
  const entrySize = bits === 64 ? 56 : 32;
  if (phnum === 0 || phentsize < entrySize || phentsize * phnum > MAX_PROGRAM_HEADERS_BYTES) {
    return { ...base, interpreter: null };
  }
  const table = await readAt(file, phoff, phentsize * phnum);
  const entries = new DataView(table.buffer, table.byteOffset, table.byteLength);
  for (let at = 0; at + entrySize <= table.length; at += phentsize) {
    if (entries.getUint32(at, littleEndian) !== PT_INTERP) continue;
    const offset = bits === 64
      ? Number(entries.getBigUint64(at + 8, littleEndian))
      : entries.getUint32(at + 4, littleEndian);
    const size = bits === 64
      ? Number(entries.getBigUint64(at + 32, littleEndian))
      : entries.getUint32(at + 16, littleEndian);
    const bytes = await readAt(file, offset, Math.min(size, MAX_INTERPRETER_BYTES));
    const end = bytes.indexOf(0);
    const interpreter = new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
    return { ...base, interpreter: interpreter === "" ? null : interpreter };
  }
  return { ...base, interpreter: null };
}

/**
 * Whether a file exists on this machine. The worker may read only its storage and its
 * own files, so outside them it asks the interpreter it may run (`python3`, by default).
 */
export function hostFileExists(python = "python3"): (path: string) => Promise<boolean> {
  return async (path) => {
    try {
      await Deno.stat(path);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      if (!(error instanceof Deno.errors.NotCapable)) throw error;
    }
    const { code } = await new Deno.Command(python, {
      args: ["-c", "import os, sys; sys.exit(0 if os.path.exists(sys.argv[1]) else 1)", path],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    if (code > 1) throw new Error(`Cannot check for ${path}: ${python} exited with code ${code}`);
    return code === 0;
  };
}

function machineName(machine: number): string {
  return MACHINES[machine] ?? `ELF machine ${machine}`;
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  await file.seek(offset, Deno.SeekMode.Start);
  const buffer = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const count = await file.read(buffer.subarray(filled));
    if (count === null) break;
    filled += count;
  }
  return buffer.subarray(0, filled);
}

function refused(code: ErrorCode, state: string, data?: Record<string, unknown>): AgentError {
  return new AgentError(code, `Cannot deploy project: ${state}`, data ? { data } : undefined);
}
