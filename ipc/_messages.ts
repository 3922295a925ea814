/**
 * The messages the gateway and the worker exchange over their channel.
 *
 * The gateway sends `init` once, then requests; the worker answers each request with
 * exactly one reply under the same id, and pushes callbacks and events at any time.
 *
 * @module
 */

/** The largest frame between gateway and worker: a whole one-message UPDATE plus its header. */
export const IPC_MAX_FRAME_BYTES = 96 * 1024 * 1024;

/**
 * JSON longer than this (a call's args, a result, an event's data) crosses IPC as a frame's
 * body, passed on without being parsed; shorter JSON is cheaper to parse than to pass on.
 * For args the gateway goes by the length of the client's whole message, so that a short
 * call is not encoded twice to measure it. The Python host's `_INLINE_LIMIT` is the same.
 */
export const INLINE_JSON_LIMIT = 1024;

/** Operations the gateway asks of the worker. */
export type WorkerOp =
  | "update"
  | "start"
  | "process"
  | "cancel"
  | "status"
  | "rollback"
  | "safety_stop"
  | "upload_begin"
  | "upload_chunk"
  | "upload_end";

/** Gateway → worker, first message: the resolved configuration. */
export interface InitMessage {
  t: "init";
  config: unknown;
}

/** Gateway → worker: one request; `update` and `upload_chunk` carry the bytes as body. */
export interface RequestMessage {
  t: "req";
  id: number;
  op: WorkerOp;
  params?: Record<string, unknown>;
}

/** Worker → gateway: the one reply to a request. */
export interface ReplyMessage {
  t: "res";
  id: number;
  ok: boolean;
  message: string;
  /** An error code from `errors.ts` when `ok` is false. */
  code?: string;
  data?: unknown;
}

/** The outcome of one PROCESS call, as the client sees it in `data`. */
export interface CallOutcome {
  object: string;
  method: string;
  ok: boolean;
  result?: unknown;
  /**
   * Inside the agent only: the result as the Python host encoded it (UTF-8 JSON), in place
   * of `result`, so a large result is never parsed and encoded again on its way. The
   * worker sends it as the body of the `cb` frame, never inside the JSON.
   */
  resultJson?: Uint8Array;
  error?: {
    code: string;
    type: string;
    message: string;
    traceback: string | null;
    /** On TIMEOUT or CANCELLED: the method's thread was still running when this was sent. */
    abandoned?: boolean;
  };
}

/** The outcome of a call that failed outside the project's code (a process died, a shutdown). */
export function failedOutcome(
  object: string,
  method: string,
  code: string,
  type: string,
  message: string,
): CallOutcome {
  return { object, method, ok: false, error: { code, type, message, traceback: null } };
}

/**
 * Worker → gateway: the result of an accepted PROCESS request `id`. A long result comes
 * as the frame's body instead of `data.result`: its JSON text, unparsed.
 */
export interface CallbackMessage {
  t: "cb";
  id: number;
  data: CallOutcome;
}

/**
 * Worker → gateway: an event for the client (from `push_message`, or the agent's own). A
 * project's long event data comes as the frame's body instead of `data`: its JSON text,
 * unparsed.
 */
export interface EventMessage {
  t: "event";
  event: string;
  data?: unknown;
}

/**
 * Worker → gateway: the objects and methods the worker accepts calls for now (`null`:
 * none), so the gateway can ACK such calls without waiting for the worker.
 */
export interface ProjectMessage {
  t: "project";
  objects: Record<string, string[]> | null;
}

/** Worker → gateway: the worker has applied `init` and loaded the current project. */
export interface ReadyMessage {
  t: "ready";
  pid: number;
}

/**
 * Worker → gateway: one log record, written by the gateway's logging (the worker has
 * none of its own). `message` is a template that `properties` fill.
 */
export interface LogMessage {
  t: "log";
  level: string;
  category: string[];
  message: string;
  properties?: Record<string, unknown>;
}

/** Any message the worker sends. */
export type WorkerMessage =
  | ReplyMessage
  | CallbackMessage
  | EventMessage
  | ProjectMessage
  | ReadyMessage
  | LogMessage;
