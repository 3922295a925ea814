/**
 * What the gateway sends a client: replies, callbacks and events, and their encoding.
 *
 * Every message is the seed's `{status, message, data}`; `id` echoes the client's, `code`
 * is a stable {@linkcode ErrorCode} on errors, `event` names an event.
 *
 * @module
 */
import type { ErrorCode } from "../errors.ts";

/** A client-chosen request id, echoed in replies and callbacks. */
export type ClientId = string | number;

/** A reply, callback or event as sent to the client. */
export interface ServerMessage {
  status: "success" | "error" | "callback";
  message?: string;
  data: unknown;
  id?: ClientId;
  code?: ErrorCode;
  event?: string;
}

/**
 * JSON text from the project (a call's result, an event's data), passed to the client as
 * it is: the Python host encoded it, and nothing on the way parses it again.
 */
export class RawJson {
  /** The JSON text. */
  readonly text: string;

  /** Wraps JSON text that is known to be valid. */
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
  options: { id?: ClientId; data?: unknown; code?: ErrorCode } = {},
): ServerMessage {
  const out: ServerMessage = { status, message, data: options.data ?? {} };
  if (options.code !== undefined) out.code = options.code;
  if (options.id !== undefined) out.id = options.id;
  return out;
}

/** Shapes an error reply. */
export function errorReply(
  code: ErrorCode,
  message: string,
  options: { id?: ClientId; data?: unknown } = {},
): ServerMessage {
  return reply("error", message, { ...options, code });
}

/** Shapes an event: a callback with a name and no id. */
export function eventMessage(event: string, data: unknown): ServerMessage {
  return { status: "callback", event, data };
}
