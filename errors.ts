/**
 * Stable error codes shared by every part of the agent.
 *
 * Clients of the WebSocket protocol see these strings in the top-level `code` of an
 * error reply and in `data.error.code` of an error callback; they never change meaning.
 *
 * @module
 */

/** Every machine-readable error code the agent can send to a client. */
export const ErrorCode = {
  /** The message is not JSON, not an object, or a field has the wrong type. */
  BAD_REQUEST: "BAD_REQUEST",
  /** The `command` field names no known command. */
  UNKNOWN_COMMAND: "UNKNOWN_COMMAND",
  /** A second client tried to connect while one is connected. */
  BUSY: "BUSY",
  /** No token, or a token the agent does not know (HTTP 401, before the upgrade). */
  UNAUTHORIZED: "UNAUTHORIZED",
  /**
   * Not allowed: a handshake from a foreign `Origin` or `Host` (HTTP 403), or a command
   * the connection's role may not send (an observer deploying, starting or calling).
   */
  FORBIDDEN: "FORBIDDEN",
  /** Too many failed handshakes from this address; retry after `retry_after_s`. */
  RATE_LIMITED: "RATE_LIMITED",
  /** `?session=ID` names a session another identity created. */
  SESSION_FORBIDDEN: "SESSION_FORBIDDEN",
  /** A call's id is the same as that of a call of this client still in flight. */
  DUPLICATE_ID: "DUPLICATE_ID",
  /** The robot is e-stopped: calls are refused until the controller sends `estop_release`. */
  ESTOPPED: "ESTOPPED",
  /** A message is larger than `gateway.max_message_bytes`. */
  MESSAGE_TOO_LARGE: "MESSAGE_TOO_LARGE",
  /** `update.data` is not valid base64. */
  BAD_BASE64: "BAD_BASE64",
  /** The bytes are not a readable zip archive. */
  BAD_ZIP: "BAD_ZIP",
  /** The zip holds no entries. */
  EMPTY_ZIP: "EMPTY_ZIP",
  /** The zip breaks a safety rule: path escape, symlink, encryption, duplicate name. */
  UNSAFE_ZIP: "UNSAFE_ZIP",
  /** The zip exceeds the entry, size or compression-ratio limits. */
  ZIP_TOO_LARGE: "ZIP_TOO_LARGE",
  /** The zip holds no recognisable Python or C++ project, or its manifest is invalid. */
  NO_PROJECT: "NO_PROJECT",
  /** The project's manifest asks for permissions beyond the `sandbox` ceiling; data names each. */
  PERMISSION_DENIED: "PERMISSION_DENIED",
  /** A C++ executable is built for another machine; the message names both architectures. */
  WRONG_ARCH: "WRONG_ARCH",
  /** Writing the project to storage failed (disk full, read-only, permissions). */
  STORAGE_ERROR: "STORAGE_ERROR",
  /** An upload was declared wrongly or its data does not match the declaration. */
  UPLOAD_ERROR: "UPLOAD_ERROR",
  /** More uploads are in progress than `upload.max_in_progress`; finish or abort one. */
  UPLOAD_LIMIT: "UPLOAD_LIMIT",
  /** PROCESS or START arrived while no project is loaded or started. */
  NOT_STARTED: "NOT_STARTED",
  /** The project failed to import, to run `init()`, or its executable failed to start. */
  START_FAILED: "START_FAILED",
  /** The object named in PROCESS does not exist in the loaded project. */
  UNKNOWN_OBJECT: "UNKNOWN_OBJECT",
  /** The method named in PROCESS does not exist on the object. */
  UNKNOWN_METHOD: "UNKNOWN_METHOD",
  /** The arguments do not fit the method's signature. */
  BAD_ARGS: "BAD_ARGS",
  /** The project's code raised an exception. */
  EXCEPTION: "EXCEPTION",
  /** The method's result cannot be encoded as JSON. */
  NOT_SERIALIZABLE: "NOT_SERIALIZABLE",
  /** The call ran longer than its timeout. */
  TIMEOUT: "TIMEOUT",
  /** The call was cancelled by the client. */
  CANCELLED: "CANCELLED",
  /** `rollback` found no earlier version to return to. */
  NO_PREVIOUS_VERSION: "NO_PREVIOUS_VERSION",
  /** `activate` names a version that is not kept on disk. */
  UNKNOWN_VERSION: "UNKNOWN_VERSION",
  /** The operation is not available for this project type. */
  NOT_SUPPORTED: "NOT_SUPPORTED",
  /** The process running the project's code exited while the call was in flight. */
  EXECUTOR_EXITED: "EXECUTOR_EXITED",
  /** The worker process exited while the request was in flight. */
  WORKER_EXITED: "WORKER_EXITED",
  /** The worker is not running (starting, or stopped after a crash loop). */
  WORKER_UNAVAILABLE: "WORKER_UNAVAILABLE",
  /** The worker or the project's process stopped answering its heartbeat and was restarted. */
  HUNG: "HUNG",
  /** The agent is shutting down and takes no more work. */
  SHUTTING_DOWN: "SHUTTING_DOWN",
  /** An unexpected internal failure; the message says what. */
  INTERNAL: "INTERNAL",
} as const;

/** One of the {@link ErrorCode} strings. */
export type ErrorCode = typeof ErrorCode[keyof typeof ErrorCode];

/** An error that carries a stable {@link ErrorCode} for the client. */
export class AgentError extends Error {
  /** The machine-readable code sent to the client. */
  readonly code: ErrorCode;
  /** Facts the client can act on, sent as the reply's `data` (e.g. where an upload stands). */
  readonly data: Record<string, unknown> | undefined;

  /** Creates an error with a code and a message in the house form `what failed: state`. */
  constructor(
    code: ErrorCode,
    message: string,
    options?: ErrorOptions & { data?: Record<string, unknown> },
  ) {
    super(message, options);
    this.name = "AgentError";
    this.code = code;
    this.data = options?.data;
  }
}

/** The code of any thrown value: its own for an {@link AgentError}, else `fallback`. */
export function errorCode(error: unknown, fallback: ErrorCode = ErrorCode.INTERNAL): ErrorCode {
  return error instanceof AgentError ? error.code : fallback;
}

/** The message of any thrown value. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
