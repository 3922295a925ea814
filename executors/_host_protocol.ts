/**
 * The messages between the worker and a Python host process, as the host speaks them
 * (the package `robot_agent_host`, and its module docstring, is the other side).
 *
 * Frames are those of ipc/ (a length, a JSON object, optional body bytes). Three messages
 * may carry a body instead of a field, for JSON over 1 KiB, passed on without being
 * parsed: a `call`'s `args`, a `result`'s `result` and an `event`'s `data`.
 *
 * @module
 */
import type { CallError, ProjectDescription } from "../ipc/mod.ts";

/** Host → worker, first message: the project is imported and `init()` has run. */
export interface HostReady {
  t: "ready";
  /** Each callable object and its public methods. */
  objects: Record<string, string[]>;
  /** The interpreter's version, e.g. `3.8.10`. */
  python: string;
  pid: number;
  /**
   * What the project's optional module-level `ready()` returned, as a bool; null (or
   * absent, from an older host) when it has none. It runs after `init()`.
   */
  ready?: boolean | null;
  /** Each object's methods described (parameters, types, docstrings); absent if it failed. */
  describe?: ProjectDescription;
}

/**
 * Host → worker, instead of `ready`: importing the project, its `init()` or its `ready()`
 * raised. `file` (relative to the project folder) and `line` say where: a SyntaxError's
 * position, else the innermost frame in the project's files; null when none was involved.
 */
export interface HostLoadError {
  t: "load_error";
  error: {
    code: string;
    type: string;
    message: string;
    traceback: string | null;
    file?: string | null;
    line?: number | null;
  };
}

/**
 * Host → worker: the answer to one `call`, `safety_stop` or `status`, exactly one per id.
 * A long `result` comes as the frame's body instead, as the host encoded it.
 */
export type HostResult =
  | { t: "result"; id: number; ok: true; result?: unknown }
  | { t: "result"; id: number; ok: false; error: CallError };

/** Host → worker: `push_message(event, data)`; long data comes as the frame's body. */
export interface HostEvent {
  t: "event";
  event: string;
  data?: unknown;
}

/** Host → worker: the thread of an abandoned call (`error.abandoned`) left project code. */
export interface HostSettled {
  t: "settled";
  id: number;
}

/** Anything a Python host sends. */
export type HostMessage = HostReady | HostLoadError | HostResult | HostEvent | HostSettled;

/** Worker → host: run `object.method(**args)`; long args go as the frame's body. */
export interface HostCall {
  t: "call";
  id: number;
  object: string;
  method: string;
  args?: Record<string, unknown>;
  /** Seconds, instead of the host's `--call-timeout`. */
  timeout?: number;
}

/** Worker → host: stop call `id`; its result then says `CANCELLED`. Unknown ids are ignored. */
export interface HostCancel {
  t: "cancel";
  id: number;
}

/**
 * Worker → host: run the stop hooks (module `stop()`, `stop()` of each object in use);
 * answered by a result whose `result` is `{ran: string[], errors: string[]}`.
 */
export interface HostSafetyStop {
  t: "safety_stop";
  id: number;
}

/**
 * Worker → host: answered by a result whose `result` is
 * `{in_flight: number, abandoned: number[], threads: number}`.
 */
export interface HostStatus {
  t: "status";
  id: number;
}

/** Worker → host: cancel what runs and exit 0. */
export interface HostShutdown {
  t: "shutdown";
}

/** Anything the worker sends a Python host. */
export type HostCommand = HostCall | HostCancel | HostSafetyStop | HostStatus | HostShutdown;
