/**
 * What the worker needs of a running project, whatever its type: one interface that the
 * Python and the C++ executor both implement, so the worker never asks which it has.
 *
 * @module
 */
import type { CallOutcome, Confinement, ProjectDescription, ProjectType } from "../ipc/mod.ts";
import type { ExitInfo } from "./_child.ts";

/** One call to run: `object.method(**args)`. */
export interface CallRequest {
  object: string;
  method: string;
  /** The arguments, or their JSON text (UTF-8) to pass on unparsed. */
  args: Record<string, unknown> | Uint8Array;
}

/** Options for {@linkcode Executor.call}. */
export interface CallOptions {
  /**
   * Keep a long result as the JSON text the project's process encoded (`resultJson`),
   * for passing on unparsed, instead of parsing it into `result`.
   */
  rawResult?: boolean;
  /** Seconds the call may run, instead of the executor's default timeout. */
  timeoutS?: number;
}

/** One thing a safety stop did: a call's outcome, or a signal sent. */
export type SafetyAction = CallOutcome | { signal: Deno.Signal };

/** An executor's part of the worker's `status`. */
export interface ExecutorStatus {
  /** The interpreter's version; null for a project that has none. */
  python: string | null;
  /** Calls answered `TIMEOUT` or `CANCELLED` whose thread still runs project code. */
  abandoned_calls: number;
  /** Calls not yet answered. */
  in_flight: number;
}

/** What an executor reports to whoever started it. */
export interface ExecutorHooks {
  /**
   * An event from the project (`push_message`). Long data comes as the project's process
   * encoded it (`dataJson`, UTF-8 JSON, to pass on unparsed; `data` is then undefined).
   */
  onEvent(event: string, data: unknown, dataJson?: Uint8Array): void;
  /**
   * Called once when the process has exited, after in-flight calls were answered; `hung`
   * when the executor killed it for leaving its heartbeat unanswered.
   */
  onExit(info: ExitInfo, detail?: { hung: boolean }): void;
}

/** A started project. */
export interface Executor {
  /** The project type it runs. */
  readonly type: ProjectType;
  /** The project's process id. */
  readonly pid: number;
  /** Whether the process is still running. */
  readonly running: boolean;
  /** Callable objects and their public methods; empty for a project that takes no calls. */
  readonly objects: ReadonlyMap<string, ReadonlySet<string>>;
  /** Its objects' methods described for `describe`; undefined when it has none. */
  readonly description?: ProjectDescription;
  /** Whether a call may restart the project after its process exited. */
  readonly revivable: boolean;
  /** What confines the project's processes, as the launcher reported it. */
  readonly confinement?: Confinement;
  /**
   * Runs a call. The promise always resolves, with the project's outcome or with why
   * there is none (`EXECUTOR_EXITED`, `NOT_SUPPORTED`); it never rejects.
   */
  call(id: number, request: CallRequest, options?: CallOptions): Promise<CallOutcome>;
  /** Asks that call `id` stop; false when it is not in flight. Its outcome says `CANCELLED`. */
  cancel(id: number): boolean;
  /**
   * Brings the project to a safe state: its own stop hooks and those of `calls` that it
   * has, or its stop signal. Resolves with what ran.
   */
  safetyStop(calls: readonly CallRequest[]): Promise<SafetyAction[]>;
  /** Counts for the worker's `status`. */
  status(): ExecutorStatus;
  /** Stops the process (its own way first, then SIGKILL) and resolves with its exit. */
  stop(): Promise<ExitInfo>;
}
