/**
 * The client protocol: parsing and validating what a client sends, shaping replies.
 *
 * The seed's three commands (update, start, process) and replies
 * `{status, message, data}` are kept as they are; everything added is optional for a
 * client written from the seed alone. docs/protocol.md is the reference.
 *
 * @module
 */
import { AgentError, ErrorCode } from "../errors.ts";

/** A client-chosen request id, echoed in replies and callbacks. */
export type ClientId = string | number;

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
  }
  | { command: "status"; id?: ClientId }
  | { command: "rollback"; id?: ClientId }
  | { command: "cancel"; id?: ClientId; callId: ClientId }
  | { command: "upload_begin"; id?: ClientId; size: number; sha256: string }
  | { command: "upload_chunk"; id?: ClientId; uploadId: string; offset: number; data: Uint8Array };

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

function requireString(
  params: Record<string, unknown>,
  key: string,
  where: string,
  id?: ClientId,
): string {
  const value = params[key];
  if (typeof value !== "string" || value === "") {
    throw new ProtocolError(
      ErrorCode.BAD_REQUEST,
      `Invalid ${where}: params.${key} must be a non-empty string`,
      id,
    );
  }
  return value;
}

function requireOffset(value: unknown, where: string, id?: ClientId): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new ProtocolError(
      ErrorCode.BAD_REQUEST,
      `Invalid ${where}: offset must be an integer ≥ 0`,
      id,
    );
  }
  return value;
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
    throw new ProtocolError(ErrorCode.BAD_REQUEST, "Invalid message: command must be a string", id);
  }
  const params = message.params === undefined ? {} : message.params;
  if (!isObject(params)) {
    throw new ProtocolError(
      ErrorCode.BAD_REQUEST,
      `Invalid ${command}: params must be an object`,
      id,
    );
  }
  switch (command) {
    case "update": {
      if (typeof message.data !== "string") {
        throw new ProtocolError(
          ErrorCode.BAD_REQUEST,
          "Invalid update: data must be the project zip as a base64 string",
          id,
        );
      }
      return { command, id, data: decodeBase64(message.data, "update data", id) };
    }
    case "start":
    case "status":
    case "rollback":
      return { command, id };
    case "process": {
      const object = requireString(params, "object", "process", id);
      const method = requireString(params, "method", "process", id);
      const args = params.args === undefined || params.args === null ? {} : params.args;
      if (!isObject(args)) {
        throw new ProtocolError(
          ErrorCode.BAD_REQUEST,
          "Invalid process: params.args must be an object of keyword arguments",
          id,
        );
      }
      if (nestingExceeds(args, MAX_ARGS_DEPTH)) {
        throw new ProtocolError(
          ErrorCode.BAD_REQUEST,
          `Invalid process: params.args is nested deeper than ${MAX_ARGS_DEPTH} levels`,
          id,
        );
      }
      return { command, id, object, method, args };
    }
    case "cancel": {
      const callId = params.call_id;
      if (typeof callId !== "string" && typeof callId !== "number") {
        throw new ProtocolError(
          ErrorCode.BAD_REQUEST,
          "Invalid cancel: params.call_id must be the id of a process command",
          id,
        );
      }
      return { command, id, callId };
    }
    case "upload_begin": {
      const size = params.size;
      if (typeof size !== "number" || !Number.isSafeInteger(size) || size <= 0) {
        throw new ProtocolError(
          ErrorCode.BAD_REQUEST,
          "Invalid upload_begin: params.size must be a positive integer",
          id,
        );
      }
      const sha256 = requireString(params, "sha256", "upload_begin", id).toLowerCase();
      return { command, id, size, sha256 };
    }
    case "upload_chunk": {
      const uploadId = requireString(params, "upload_id", "upload_chunk", id);
      const offset = requireOffset(params.offset, "upload_chunk", id);
      if (typeof params.data !== "string") {
        throw new ProtocolError(
          ErrorCode.BAD_REQUEST,
          "Invalid upload_chunk: params.data must be base64 text",
          id,
        );
      }
      return { command, id, uploadId, offset, data: decodeBase64(params.data, "chunk data", id) };
    }
    default:
      throw new ProtocolError(
        ErrorCode.UNKNOWN_COMMAND,
        `Unknown command: ${
          JSON.stringify(command).slice(0, 80)
        } (expected update, start, process, ` +
          "status, cancel, rollback, upload_begin or upload_chunk)",
        id,
      );
  }
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
    throw new ProtocolError(
      ErrorCode.BAD_REQUEST,
      "Invalid chunk: header length exceeds the message",
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  } catch {
    throw new ProtocolError(ErrorCode.BAD_REQUEST, "Invalid chunk: the header is not JSON");
  }
  if (!isObject(header)) {
    throw new ProtocolError(ErrorCode.BAD_REQUEST, "Invalid chunk: the header is not an object");
  }
  const id = readId(header);
  return {
    command: "upload_chunk",
    id,
    uploadId: requireString(header, "upload_id", "chunk", id),
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

/** A reply, callback or event as sent to the client. */
export interface ServerMessage {
  status: "success" | "error" | "callback";
  message?: string;
  data: unknown;
  id?: ClientId;
  code?: string;
  event?: string;
}

/**
 * JSON text from the project (a call's result, an event's data), passed to the client as
 * it is: the Python host encoded it, and nothing on the way parses it again.
 */
export class RawJson {
  readonly text: string;

  constructor(text: string) {
    this.text = text;
  }

  /** Only for a message serialized some other way than {@linkcode encodeServerMessage}. */
  toJSON(): unknown {
    return JSON.parse(this.text);
  }
}

/**
 * Serializes a message for the client, putting {@linkcode RawJson} text in place as it is:
 * an event's `data`, or a callback's `data.result` (then the last keys of their objects).
 */
export function encodeServerMessage(message: ServerMessage): string {
  const data = message.data;
  if (data instanceof RawJson) {
    const head = JSON.stringify({ ...message, data: undefined });
    return `${head.slice(0, -1)},"data":${data.text}}`;
  }
  const result = (data as { result?: unknown } | null)?.result;
  if (result instanceof RawJson) {
    const head = JSON.stringify({ ...message, data: undefined });
    const outcome = JSON.stringify({ ...(data as object), result: undefined });
    return `${head.slice(0, -1)},"data":${outcome.slice(0, -1)},"result":${result.text}}}`;
  }
  return JSON.stringify(message);
}

/** Shapes a success or error reply; `id` is only present when the client sent one. */
export function reply(
  status: "success" | "error",
  message: string,
  options: { id?: ClientId; data?: unknown; code?: string } = {},
): ServerMessage {
  const out: ServerMessage = { status, message, data: options.data ?? {} };
  if (options.code !== undefined) out.code = options.code;
  if (options.id !== undefined) out.id = options.id;
  return out;
}
