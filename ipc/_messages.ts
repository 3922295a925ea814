/**
 * The messages the gateway and the worker exchange over their channel.
 *
 * Two kinds of traffic share it. Requests (`req`) are operations on the worker's state
 * (deploy, start, status, …): each gets exactly one reply (`res`) under the same id.
 * Calls (`call`) run project code: the gateway has already ACKed or refused them from the
 * project table the worker publishes (`project`), so the worker answers a call only with
 * its callback (`cb`), never with a reply. docs/architecture.md follows one call through.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import type { ErrorCode } from "../errors.ts";
import type { LogRecord } from "../log.ts";

/** The largest frame between gateway and worker: a whole one-message UPDATE plus its header. */
export const IPC_MAX_FRAME_BYTES = 96 * 1024 * 1024;

/**
 * JSON longer than this (a call's args, a result, an event's data) crosses IPC as a frame's
 * body, passed on without being parsed; shorter JSON is cheaper to parse than to pass on.
 * For args the gateway goes by the length of the client's whole message, so that a short
 * call is not encoded twice to measure it. The Python host's inline limit is the same.
 */
export const INLINE_JSON_LIMIT = 1024;

/** A project type the worker detects and runs. */
export type ProjectType = "python" | "cpp";

/** What a reply says of a deployed or started project version. */
export interface ProjectData {
  type: ProjectType;
  version: number;
  entry: string;
  files: number;
  bytes: number;
  /** Objects and their methods, once the version is started and takes calls. */
  objects?: Record<string, string[]>;
  /** The project's process, once started. */
  pid?: number;
  /** What confines it, once started (docs/security.md). */
  confinement?: Confinement;
}

/**
 * What confines a started project's processes, layer by layer, as the launcher
 * (`executors/robot_agent_sandbox`) set it up; `missing` names each layer not in force
 * and why, so nothing is skipped silently.
 */
export interface Confinement {
  /** Who the project runs as. */
  user: { name: string; uid: number; gid: number };
  /** The Landlock ABI its file (and TCP) rules use; null without Landlock. */
  landlock_abi: number | null;
  /** Its network: `allowed`, `loopback only (network namespace)`, `no TCP (landlock)`, … */
  net: string;
  /** Whether it may start processes: `allowed` or `no new processes (seccomp)`. */
  run: string;
  /** The limits in force; null for none. */
  limits: {
    memory_mb: number | null;
    processes: number | null;
    open_files: number | null;
    file_size_mb: number | null;
  };
  /** Its cgroup v2 folder; null without one. */
  cgroup: string | null;
  /** Each layer not in force, and why: `landlock (kernel has none)`. */
  missing: string[];
}

/** Where a chunked upload stands. */
export interface UploadProgress {
  upload_id: string;
  size: number;
  received: number;
}

/**
 * Where a deployed version stands: `good` once it started, its `ready()` was truthy and
 * it ran `lifecycle.probation_s` without crashing; `failed` when its start or probation
 * failed (`reason` says how); `candidate` until then. The built-in project is good.
 */
export type VersionStatus = "good" | "failed" | "candidate";

/** One version on disk, as `versions` lists it. */
export interface VersionInfo {
  version: number;
  type: ProjectType;
  entry: string;
  /** When it was deployed (ISO 8601); null for the built-in project (version 0). */
  deployed_at: string | null;
  /** The sha256 of the zip it came from; null for the built-in project. */
  sha256: string | null;
  status: VersionStatus;
  /** Why it failed; null unless `failed`. */
  reason: string | null;
  /** When its status last changed (ISO 8601); null while it never ran. */
  status_at: string | null;
}

/**
 * Why a START failed, in the error reply's `data`: the exception and where the project
 * raised it (`file` relative to the project folder; both null when unknown, e.g. a C++
 * exec failure), and what auto-rollback started instead, if it did.
 */
export interface StartFailure {
  type: string;
  message: string;
  traceback: string | null;
  file: string | null;
  line: number | null;
  rolled_back?: RolledBack;
}

/**
 * The `rolled_back` event's data: version `from` failed (to start, or in probation) and
 * `to`, the last good version, runs instead.
 */
export interface RolledBack {
  from: number;
  to: number;
  reason: string;
}

/** A version `rollback` passed over on its way to a good one. */
export interface SkippedVersion {
  version: number;
  status: VersionStatus;
  reason: string | null;
}

/** The worker's part of `status`. */
export interface WorkerStatus {
  worker: { pid: number };
  project: {
    type: ProjectType;
    version: number;
    state: "stopped" | "starting" | "running" | "exited" | "failed";
    pid: number | null;
    last_exit: { code: number; signal: string | null } | null;
    python: string | null;
    abandoned_calls: number;
    /** What confines the running or exited project; absent when none was started. */
    confinement?: Confinement;
  };
  calls: { accepted: number; completed: number; failed: number; in_flight: number };
}

/** What each request operation takes as `params` and answers as `data`. */
export interface WorkerOps {
  /** The zip is the frame's body. */
  update: { params: Record<never, never>; data: ProjectData };
  start: { params: Record<never, never>; data: ProjectData };
  /**
   * Starts the newest good version before the current one; `reason` says why that one and
   * `skipped` lists the versions passed over.
   */
  rollback: {
    params: Record<never, never>;
    data: ProjectData & { rolled_back_from: number; reason: string; skipped: SkippedVersion[] };
  };
  /** The versions on disk, newest first, the built-in project (0) last. */
  versions: { params: Record<never, never>; data: { versions: VersionInfo[]; current: number } };
  /** Makes a kept version current and starts it. */
  activate: { params: { version: number }; data: ProjectData & { activated_from: number } };
  status: { params: Record<never, never>; data: WorkerStatus };
  /** Runs the project's stop hooks and `safety.on_disconnect`; `reason` goes to the log. */
  safety_stop: { params: { reason: string }; data: { ran: unknown[] } };
  upload_begin: {
    params: { size: number; sha256: string };
    data: UploadProgress & { offset: number };
  };
  /**
   * A slice of a chunk is the frame's body. The reply to the slice that completes the
   * upload carries `complete` and the deploy's outcome.
   */
  upload_chunk: {
    params: { upload_id: string; offset: number };
    data: UploadProgress & { complete?: true } & Partial<ProjectData>;
  };
  /** Forgets an upload in progress and removes its partial file. */
  upload_abort: { params: { upload_id: string }; data: { upload_id: string; removed: boolean } };
}

/** Operations the gateway asks of the worker. */
export type WorkerOp = keyof WorkerOps;

/** The `params` of operation `K`. */
export type OpParams<K extends WorkerOp> = WorkerOps[K]["params"];

/** The success `data` of operation `K`. */
export type OpData<K extends WorkerOp> = WorkerOps[K]["data"];

/** Gateway → worker, first message: the resolved configuration. */
export interface InitMessage {
  t: "init";
  config: AgentConfig;
}

/** Gateway → worker: one request operation. */
export type RequestMessage = {
  [K in WorkerOp]: { t: "req"; id: number; op: K; params: OpParams<K> };
}[WorkerOp];

/**
 * Gateway → worker: run `object.method(**args)`; answered only by a {@linkcode CallbackMessage}.
 * Long args come as the frame's body instead of `args`: their JSON text, unparsed.
 */
export interface CallMessage {
  t: "call";
  id: number;
  object: string;
  method: string;
  args?: Record<string, unknown>;
  /** Seconds the call may run, instead of `python.call_timeout_s` (never more). */
  timeout_s?: number;
}

/** Gateway → worker: stop call `id` if it still runs; its callback then says `CANCELLED`. */
export interface CancelMessage {
  t: "cancel";
  id: number;
}

/**
 * Gateway → worker: a heartbeat; the worker answers `pong` with the same id from its
 * event loop. A worker that stops answering is killed and restarted.
 */
export interface PingMessage {
  t: "ping";
  id: number;
}

/** Anything the gateway sends the worker. */
export type GatewayMessage =
  | InitMessage
  | RequestMessage
  | CallMessage
  | CancelMessage
  | PingMessage;

/** Worker → gateway: the successful reply to request `id`. */
export interface SuccessReply<K extends WorkerOp = WorkerOp> {
  t: "res";
  id: number;
  ok: true;
  message: string;
  data: OpData<K>;
}

/** Worker → gateway: the failed reply to request `id`; `data` holds facts to act on. */
export interface ErrorReply {
  t: "res";
  id: number;
  ok: false;
  message: string;
  code: ErrorCode;
  data?: Record<string, unknown>;
}

/** Worker → gateway: the one reply to a request. */
export type ReplyMessage<K extends WorkerOp = WorkerOp> = SuccessReply<K> | ErrorReply;

/** How a call failed, as the client sees it in `data.error`. */
export interface CallError {
  code: ErrorCode;
  type: string;
  message: string;
  traceback: string | null;
  /** On TIMEOUT or CANCELLED: the method's thread was still running when this was sent. */
  abandoned?: boolean;
  /** On CANCELLED: why, when it was not the client's own cancel (`estop`). */
  reason?: string;
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
  error?: CallError;
}

/** The outcome of a call that failed outside the project's code (a process died, a shutdown). */
export function failedOutcome(
  object: string,
  method: string,
  code: ErrorCode,
  type: string,
  message: string,
): CallOutcome {
  return { object, method, ok: false, error: { code, type, message, traceback: null } };
}

/**
 * Worker → gateway: the outcome of call `id`. A long result comes as the frame's body
 * instead of `data.result`: its JSON text, unparsed.
 */
export interface CallbackMessage {
  t: "cb";
  id: number;
  data: Omit<CallOutcome, "resultJson">;
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

/** The JSON Schema subset a Python annotation maps to. */
export interface ValueSchema {
  type?: "integer" | "number" | "string" | "boolean" | "null" | "array" | "object";
  enum?: unknown[];
  anyOf?: ValueSchema[];
  items?: ValueSchema;
}

/** One parameter of a described method. */
export interface ParamInfo {
  name: string;
  kind:
    | "positional_only"
    | "positional_or_keyword"
    | "var_positional"
    | "keyword_only"
    | "var_keyword";
  required: boolean;
  /** The default as JSON (its `repr` when `default_repr`); absent when there is none. */
  default?: unknown;
  default_repr?: boolean;
  /** The annotation as written (`List[float]`); null when there is none. */
  annotation: string | null;
  /** What the agent checks the argument against; null when the annotation maps to none. */
  schema: ValueSchema | null;
}

/** One described method. */
export interface MethodInfo {
  /** Null when its signature cannot be read (a builtin); calls are then not checked. */
  params: ParamInfo[] | null;
  returns: { annotation: string | null; schema: ValueSchema | null } | null;
  async: boolean;
  /** The first paragraph of its docstring. */
  doc: string | null;
}

/** What a project's objects offer (`describe`), and a hash of it. */
export interface ProjectDescription {
  objects: Record<
    string,
    { doc: string | null; class: boolean; methods: Record<string, MethodInfo> }
  >;
  hash: string;
  /** The interpreter's major.minor. */
  python?: string;
}

/** The calls the running project takes, as the worker publishes them. */
export interface ProjectTable {
  type: ProjectType;
  version: number;
  /** Object name → its public methods; empty for a project that takes no calls (C++). */
  objects: Record<string, string[]>;
  /** The methods described, when the project's host describes them. */
  describe?: ProjectDescription;
}

/**
 * Worker → gateway: the project that calls go to from now on (`null`: none is started).
 * Sent before the reply of the request that changed it, so the gateway judges every call
 * it holds behind that request against the new table.
 */
export interface ProjectMessage {
  t: "project";
  project: ProjectTable | null;
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
export interface LogMessage extends LogRecord {
  t: "log";
}

/** Worker → gateway: the answer to a `ping`. */
export interface PongMessage {
  t: "pong";
  id: number;
}

/** Anything the worker sends the gateway. */
export type WorkerMessage =
  | PongMessage
  | ReplyMessage
  | CallbackMessage
  | EventMessage
  | ProjectMessage
  | ReadyMessage
  | LogMessage;
