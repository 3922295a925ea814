/**
 * The protocol's shapes as the client sees them (docs/protocol.md is the reference).
 *
 * Copied rather than imported: the client runs in browsers too and loads nothing of the
 * agent. Only the error codes' type comes from the agent, erased at run time.
 *
 * @module
 */
import type { ErrorCode } from "../errors.ts";

/** A request id, echoed in its reply and callback. */
export type ClientId = string | number;

/** One of the agent's stable error codes, or a code of a newer agent. */
export type AgentErrorCode = ErrorCode | (string & Record<never, never>);

/** A reply, callback or event as the agent sends it. */
export interface ServerMessage {
  status: "success" | "error" | "callback";
  message?: string;
  data: unknown;
  id?: ClientId;
  code?: AgentErrorCode;
  event?: string;
}

/** The outcome of a deploy (`update`, or the last chunk of an upload). */
export interface DeployResult {
  type: "python" | "cpp";
  version: number;
  entry: string;
  files: number;
  bytes: number;
  [key: string]: unknown;
}

/** What `start` (and `rollback`) report: the running project and its objects. */
export interface StartResult {
  type: "python" | "cpp";
  version: number;
  entry: string;
  pid: number | null;
  /** Python: each callable object's public methods. */
  objects?: Record<string, string[]>;
  [key: string]: unknown;
}

/** What `rollback` reports. */
export interface RollbackResult extends StartResult {
  /** The version that was current before. */
  rolled_back_from: number;
}

/** What `status` reports. */
export interface AgentStatus {
  agent: { version: string; uptime_s: number };
  worker: { pid: number | null; restarts: number; state: string };
  project?: {
    type: string | null;
    version: number | null;
    state: string;
    pid: number | null;
    last_exit: unknown;
    python?: string | null;
    abandoned_calls?: number;
  };
  calls?: { accepted: number; completed: number; failed: number; in_flight: number };
  gateway?: Record<string, unknown>;
  [key: string]: unknown;
}

/** The reply to `upload_begin`: where the upload stands. */
export interface UploadBeginResult {
  upload_id: string;
  offset: number;
  size: number;
  received: number;
  max_chunk_bytes: number;
}

/** The data of an `upload_progress` event. */
export interface UploadProgressEvent {
  upload_id: string;
  size: number;
  received: number;
}

/** Why a call failed, as its callback says. */
export interface CallErrorData {
  code: AgentErrorCode;
  message: string;
  /** The Python exception's class, for `EXCEPTION` and `BAD_ARGS`. */
  type?: string | null;
  traceback?: string | null;
  /** The method's thread still ran when the callback went out (`TIMEOUT`, `CANCELLED`). */
  abandoned?: boolean;
  [key: string]: unknown;
}

/** The data of a call's callback. */
export interface CallOutcome {
  object: string;
  method: string;
  ok: boolean;
  result?: unknown;
  error?: CallErrorData;
}

/** The commands the client knows the shapes of: their params and reply data. */
export interface KnownCommands {
  start: { params: Record<string, never>; data: StartResult };
  status: { params: Record<string, never>; data: AgentStatus };
  rollback: { params: Record<string, never>; data: RollbackResult };
  cancel: { params: { call_id: ClientId }; data: Record<string, unknown> };
  process: {
    params: { object: string; method: string; args?: Record<string, unknown> };
    data: { object: string; method: string };
  };
  upload_begin: { params: { size: number; sha256: string }; data: UploadBeginResult };
}

/** The reply data of `command`: known for {@linkcode KnownCommands}, else unknown. */
export type ReplyData<K extends string> = K extends keyof KnownCommands ? KnownCommands[K]["data"]
  : unknown;

/** The params of `command`: known for {@linkcode KnownCommands}, else any object. */
export type RequestParams<K extends string> = K extends keyof KnownCommands
  ? KnownCommands[K]["params"]
  : Record<string, unknown>;
