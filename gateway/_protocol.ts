/**
 * The client protocol: parsing and validating what a client sends.
 *
 * The seed's three commands (update, start, process) and replies `{status, message, data}`
 * are kept as they are; everything added is optional for a client written from the seed
 * alone. Each command has one parser in {@linkcode PARSERS}; docs/protocol.md is the
 * reference.
 *
 * @module
 */
import { AgentError, ErrorCode } from "../errors.ts";
import type { ClientId } from "./_replies.ts";

/** A validated client command. */
export type ClientCommand =
  | { command: "update"; id?: ClientId; data: Uint8Array }
  | { command: "start"; id?: ClientId }
  | {
    command: "process";
    id?: ClientId;
    object: string;
    method: string;
    args: Record<string, unknown>;
    /** Seconds the call may run, at most `python.call_timeout_s`. */
    timeoutS?: number;
  }
  | { command: "status"; id?: ClientId }
  | { command: "rollback"; id?: ClientId }
  | { command: "cancel"; id?: ClientId; callId: ClientId }
  | { command: "upload_begin"; id?: ClientId; size: number; sha256: string }
  | { command: "upload_chunk"; id?: ClientId; uploadId: string; offset: number; data: Uint8Array }
  | { command: "upload_abort"; id?: ClientId; uploadId: string }
  | { command: "takeover"; id?: ClientId }
  | { command: "estop"; id?: ClientId; reason: string }
  | { command: "estop_release"; id?: ClientId }
  | {
    command: "logs";
    id?: ClientId;
    follow: boolean;
    level: "debug" | "info" | "warning" | "error";
    lines: number;
    source: "agent" | "project" | "all";
  }
  | { command: "unfollow"; id?: ClientId }
  | { command: "describe"; id?: ClientId; object?: string }
  | { command: "versions"; id?: ClientId }
  | { command: "activate"; id?: ClientId; version: number };

/** The name of a client command. */
export type CommandName = ClientCommand["command"];

/** The command named `K`. */
export type CommandOf<K extends CommandName> = Extract<ClientCommand, { command: K }>;

/** The four bytes that open a binary upload chunk: "RAC1". */
export const CHUNK_MAGIC = new Uint8Array([0x52, 0x41, 0x43, 0x31]);

/** Thrown for a message the agent cannot accept; `id` is echoed when it was readable. */
export class ProtocolError extends AgentError {
  /** The id of the offending message, when known. */
  readonly id: ClientId | undefined;

  /** Creates the error. */
  constructor(code: ErrorCode, message: string, id?: ClientId) {
    super(code, message);
    this.name = "ProtocolError";
    this.id = id;
  }
}

/**
 * How deeply `args` may nest. Python's JSON decoder recurses, and a frame nested past
 * its recursion limit (about 1,000) would take the project's process down.
 */
export const MAX_ARGS_DEPTH = 200;

/** Whether `value` nests arrays and objects deeper than `limit`, checked without recursion. */
function nestingExceeds(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== "object" || item === null) continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (typeof child === "object" && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function readId(message: Record<string, unknown>): ClientId | undefined {
  const id = message.id;
  if (id === undefined || id === null) return undefined;
  if (
    (typeof id === "string" && id.length <= 256) || (typeof id === "number" && Number.isFinite(id))
  ) {
    return id;
  }
  throw new ProtocolError(
    ErrorCode.BAD_REQUEST,
    "Invalid message: id must be a string or a number",
  );
}

/** Decodes strict base64 (whitespace allowed, as some clients wrap lines). */
export function decodeBase64(text: string, what: string, id?: ClientId): Uint8Array {
  try {
    return Uint8Array.fromBase64(/\s/.test(text) ? text.replace(/\s+/g, "") : text);
  } catch {
    throw new ProtocolError(ErrorCode.BAD_BASE64, `Invalid ${what}: not valid base64`, id);
  }
}

/** What a parser is given: the message's `params`, the whole message, and its id. */
interface ParseInput {
  params: Record<string, unknown>;
  message: Record<string, unknown>;
  id: ClientId | undefined;
}

function bad(where: string, problem: string, id: ClientId | undefined): ProtocolError {
  return new ProtocolError(ErrorCode.BAD_REQUEST, `Invalid ${where}: ${problem}`, id);
}

function requireString(input: ParseInput, key: string, where: string): string {
  const value = input.params[key];
  if (typeof value !== "string" || value === "") {
    throw bad(where, `params.${key} must be a non-empty string`, input.id);
  }
  return value;
}

function requireOffset(value: unknown, where: string, id?: ClientId): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw bad(where, "offset must be an integer ≥ 0", id);
  }
  return value;
}

function parseProcess(input: ParseInput): CommandOf<"process"> {
  const { params, id } = input;
  const object = requireString(input, "object", "process");
  const method = requireString(input, "method", "process");
  const args = params.args === undefined || params.args === null ? {} : params.args;
  if (!isObject(args)) {
    throw bad("process", "params.args must be an object of keyword arguments", id);
  }
  if (nestingExceeds(args, MAX_ARGS_DEPTH)) {
    throw bad("process", `params.args is nested deeper than ${MAX_ARGS_DEPTH} levels`, id);
  }
  const timeout = params.timeout_s;
  if (timeout === undefined || timeout === null) {
    return { command: "process", id, object, method, args };
  }
  if (typeof timeout !== "number" || !Number.isFinite(timeout) || timeout <= 0) {
    throw bad("process", "params.timeout_s must be a positive number of seconds", id);
  }
  return { command: "process", id, object, method, args, timeoutS: timeout };
}

const LOG_LEVEL_NAMES = ["debug", "info", "warning", "error"] as const;
const LOG_SOURCES = ["agent", "project", "all"] as const;

/** The most records `logs` returns at once. */
export const MAX_LOG_LINES = 2000;

function parseLogs({ params, id }: ParseInput): CommandOf<"logs"> {
  const follow = params.follow ?? false;
  if (typeof follow !== "boolean") throw bad("logs", "params.follow must be true or false", id);
  const level = params.level ?? "info";
  if (!LOG_LEVEL_NAMES.includes(level as typeof LOG_LEVEL_NAMES[number])) {
    throw bad("logs", `params.level must be one of ${LOG_LEVEL_NAMES.join(", ")}`, id);
  }
  const lines = params.lines ?? 200;
  if (typeof lines !== "number" || !Number.isInteger(lines) || lines < 0 || lines > MAX_LOG_LINES) {
    throw bad("logs", `params.lines must be an integer from 0 to ${MAX_LOG_LINES}`, id);
  }
  const source = params.source ?? "all";
  if (!LOG_SOURCES.includes(source as typeof LOG_SOURCES[number])) {
    throw bad("logs", `params.source must be one of ${LOG_SOURCES.join(", ")}`, id);
  }
  return {
    command: "logs",
    id,
    follow,
    level: level as CommandOf<"logs">["level"],
    lines,
    source: source as CommandOf<"logs">["source"],
  };
}

/** One parser per command: the table the protocol is. */
const PARSERS: { [K in CommandName]: (input: ParseInput) => CommandOf<K> } = {
  update({ message, id }) {
    if (typeof message.data !== "string") {
      throw bad("update", "data must be the project zip as a base64 string", id);
    }
    return { command: "update", id, data: decodeBase64(message.data, "update data", id) };
  },
  start: ({ id }) => ({ command: "start", id }),
  status: ({ id }) => ({ command: "status", id }),
  rollback: ({ id }) => ({ command: "rollback", id }),
  process: parseProcess,
  cancel({ params, id }) {
    const callId = params.call_id;
    if (typeof callId !== "string" && typeof callId !== "number") {
      throw bad("cancel", "params.call_id must be the id of a process command", id);
    }
    return { command: "cancel", id, callId };
  },
  upload_begin(input) {
    const size = input.params.size;
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size <= 0) {
      throw bad("upload_begin", "params.size must be a positive integer", input.id);
    }
    const sha256 = requireString(input, "sha256", "upload_begin").toLowerCase();
    return { command: "upload_begin", id: input.id, size, sha256 };
  },
  upload_chunk(input) {
    const { params, id } = input;
    const uploadId = requireString(input, "upload_id", "upload_chunk");
    const offset = requireOffset(params.offset, "upload_chunk", id);
    if (typeof params.data !== "string") {
      throw bad("upload_chunk", "params.data must be base64 text", id);
    }
    const data = decodeBase64(params.data, "chunk data", id);
    return { command: "upload_chunk", id, uploadId, offset, data };
  },
  upload_abort: (input) => ({
    command: "upload_abort",
    id: input.id,
    uploadId: requireString(input, "upload_id", "upload_abort").toLowerCase(),
  }),
  takeover: ({ id }) => ({ command: "takeover", id }),
  estop({ params, id }) {
    const reason = params.reason === undefined ? "e-stop" : params.reason;
    if (typeof reason !== "string" || reason.length > 200) {
      throw bad("estop", "params.reason must be a string of at most 200 characters", id);
    }
    return { command: "estop", id, reason };
  },
  estop_release: ({ id }) => ({ command: "estop_release", id }),
  logs: parseLogs,
  unfollow: ({ id }) => ({ command: "unfollow", id }),
  versions: ({ id }) => ({ command: "versions", id }),
  activate({ params, id }) {
    const version = params.version;
    if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 0) {
      throw bad("activate", "params.version must be a version number (0 or more)", id);
    }
    return { command: "activate", id, version };
  },
  describe(input) {
    if (input.params.object === undefined) return { command: "describe", id: input.id };
    return {
      command: "describe",
      id: input.id,
      object: requireString(input, "object", "describe"),
    };
  },
};

/** Every command name, in the order the error for an unknown one lists them. */
export const COMMAND_NAMES: readonly CommandName[] = Object.keys(PARSERS) as CommandName[];

function isCommandName(name: string): name is CommandName {
  return Object.hasOwn(PARSERS, name);
}

/**
 * Parses one text message.
 *
 * @throws {ProtocolError} with a stable code and, when readable, the message's id.
 */
export function parseTextMessage(text: string): ClientCommand {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch (error) {
    throw new ProtocolError(
      ErrorCode.BAD_REQUEST,
      `Invalid message: not valid JSON (${error instanceof Error ? error.message : error})`,
    );
  }
  if (!isObject(message)) {
    throw new ProtocolError(ErrorCode.BAD_REQUEST, "Invalid message: expected a JSON object");
  }
  const id = readId(message);
  const command = message.command;
  if (typeof command !== "string") {
    throw bad("message", "command must be a string", id);
  }
  const params = message.params === undefined ? {} : message.params;
  if (!isObject(params)) throw bad(command, "params must be an object", id);
  if (!isCommandName(command)) {
    const known = COMMAND_NAMES.join(", ");
    throw new ProtocolError(
      ErrorCode.UNKNOWN_COMMAND,
      `Unknown command: ${JSON.stringify(command).slice(0, 80)} (expected one of ${known})`,
      id,
    );
  }
  return PARSERS[command]({ params, message, id });
}

/**
 * Parses one binary message: a chunk (magic "RAC1", a 4-byte big-endian header length,
 * a JSON header `{upload_id, offset, id?}`, then the data) or else a whole zip (UPDATE).
 *
 * @throws {ProtocolError} for a malformed chunk header.
 */
export function parseBinaryMessage(bytes: Uint8Array): ClientCommand {
  const isChunk = bytes.length >= 8 && CHUNK_MAGIC.every((byte, i) => bytes[i] === byte);
  if (!isChunk) return { command: "update", data: bytes };
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset + 4, 4).getUint32(0);
  if (8 + headerLength > bytes.length) {
    throw bad("chunk", "header length exceeds the message", undefined);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw bad("chunk", "the header is not JSON", undefined);
  }
  if (!isObject(header)) throw bad("chunk", "the header is not an object", undefined);
  const id = readId(header);
  const input = { params: header, message: header, id };
  return {
    command: "upload_chunk",
    id,
    uploadId: requireString(input, "upload_id", "chunk"),
    offset: requireOffset(header.offset, "chunk", id),
    data: bytes.subarray(8 + headerLength),
  };
}

/** Builds a binary chunk message; clients in TypeScript can use it as is. */
export function encodeChunk(
  uploadId: string,
  offset: number,
  data: Uint8Array,
  id?: ClientId,
): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ upload_id: uploadId, offset, id }));
  const out = new Uint8Array(8 + header.length + data.length);
  out.set(CHUNK_MAGIC, 0);
  new DataView(out.buffer).setUint32(4, header.length);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}
