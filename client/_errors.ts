/**
 * The client's two failures: the agent answered an error, or it could not be reached.
 *
 * @module
 */
import type { AgentErrorCode, ServerMessage } from "./_types.ts";

/** The agent answered a request (or a call's callback) with an error. */
export class AgentRequestError extends Error {
  /** The agent's stable code: `UNKNOWN_METHOD`, `BAD_ARGS`, `EXCEPTION`, … */
  readonly code: AgentErrorCode;
  /** The error's data: for a failed call, `type`, `traceback`, `abandoned`. */
  readonly data: Record<string, unknown>;
  /** The command that failed. */
  readonly command: string;

  /** Creates the error from the agent's code and message. */
  constructor(
    code: AgentErrorCode,
    message: string,
    options: { command: string; data?: Record<string, unknown> },
  ) {
    super(message);
    this.name = "AgentRequestError";
    this.code = code;
    this.command = options.command;
    this.data = options.data ?? {};
  }

  /** The error an error reply stands for. */
  static fromReply(reply: ServerMessage, command: string): AgentRequestError {
    const data = typeof reply.data === "object" && reply.data !== null
      ? reply.data as Record<string, unknown>
      : {};
    return new AgentRequestError(reply.code ?? "INTERNAL", reply.message ?? "Request failed", {
      command,
      data,
    });
  }
}

/**
 * Why there is no connection:
 * - `UNREACHABLE`: nothing answered, or the WebSocket handshake failed;
 * - `UNAUTHORIZED`, `FORBIDDEN`, `RATE_LIMITED`: the agent refused the handshake (HTTP 401,
 *   403, 429; told apart only where the runtime reports the status, as Deno does);
 * - `BUSY`: another client holds the agent;
 * - `CONNECTION_LOST`: the connection dropped and could not be resumed;
 * - `CLOSED`: the agent closed it, or {@linkcode RobotClient.close} did.
 */
export type ConnectionErrorCode =
  | "UNREACHABLE"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "RATE_LIMITED"
  | "BUSY"
  | "CONNECTION_LOST"
  | "CLOSED";

/** There is no connection to the agent, or it ended before the answer came. */
export class AgentConnectionError extends Error {
  /** What went wrong, as a stable code. */
  readonly code: ConnectionErrorCode;
  /** The WebSocket close code, when the socket was closed with one. */
  readonly closeCode: number | undefined;

  /** Creates the error. */
  constructor(
    code: ConnectionErrorCode,
    message: string,
    options: ErrorOptions & { closeCode?: number } = {},
  ) {
    super(message, options);
    this.name = "AgentConnectionError";
    this.code = code;
    this.closeCode = options.closeCode;
  }
}

const HTTP_CODES: Record<string, ConnectionErrorCode> = {
  "401": "UNAUTHORIZED",
  "403": "FORBIDDEN",
  "429": "RATE_LIMITED",
};

/** The error for a WebSocket that failed to open, from what the runtime reported. */
export function handshakeError(url: string, detail: string): AgentConnectionError {
  const status = /status code:? (\d{3})/i.exec(detail)?.[1];
  const code: ConnectionErrorCode = (status ? HTTP_CODES[status] : undefined) ?? "UNREACHABLE";
  const why = code === "UNAUTHORIZED"
    ? "the agent refused the token (HTTP 401); check --token or ROBOT_AGENT_TOKEN"
    : code === "FORBIDDEN"
    ? "the agent refused the connection (HTTP 403)"
    : code === "RATE_LIMITED"
    ? "too many failed handshakes from this address (HTTP 429); wait and retry"
    : detail || "no answer";
  return new AgentConnectionError(code, `Cannot connect to ${displayUrl(url)}: ${why}`);
}

/** `url` as messages show it: the `token` hidden, the `session` left out. */
export function displayUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/, "$1***").replace(/[?&]session=[^&#]*/, "")
    .replace(/^([^?]*)&/, "$1?");
}
