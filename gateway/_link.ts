/**
 * What the gateway needs of the worker: {@linkcode WorkerLink}. The supervisor implements
 * it over IPC; unit tests implement it with a fake.
 *
 * @module
 */
import type {
  CallMessage,
  CallOutcome,
  OpParams,
  ProjectTable,
  ReplyMessage,
  WorkerOp,
} from "../ipc/mod.ts";

/** The worker as the gateway sees it. */
export type WorkerState = "starting" | "running" | "restarting" | "crashed" | "stopped";

/** What the worker tells the gateway, pushed as it happens. */
export interface WorkerLinkListener {
  /** The outcome of call `id`; a long result is a {@linkcode RawJson} in `result`. */
  onCallback(id: number, outcome: CallOutcome): void;
  /** An event for the client; long data is a {@linkcode RawJson}. */
  onEvent(event: string, data: unknown): void;
  /**
   * The calls the worker takes from now on: a table, `null` when no project is started,
   * `undefined` while unknown (the worker is starting or gone).
   */
  onProject(project: ProjectTable | null | undefined): void;
  /**
   * The worker exited: calls sent to it will never be answered. `how` says how it ended;
   * `hung` that it was killed for not answering its heartbeat.
   */
  onWorkerExit(how: string, options: { hung: boolean }): void;
  /** The worker's state changed. */
  onState(state: WorkerState): void;
}

/** The gateway's connection to the worker process. */
export interface WorkerLink {
  /** The worker's state. */
  readonly state: WorkerState;
  /** The worker's process id, while it runs. */
  readonly pid: number | null;
  /** How many times the worker was restarted after exiting. */
  readonly restarts: number;
  /** Where pushed messages go; set once, by the gateway. */
  listen(listener: WorkerLinkListener): void;
  /**
   * Sends a request; resolves with the worker's one reply, or with an error reply when
   * the worker is not running or exits first. Never rejects. Held while the worker starts.
   */
  request<K extends WorkerOp>(
    op: K,
    params: OpParams<K>,
    body?: Uint8Array,
  ): Promise<ReplyMessage<K>>;
  /**
   * Sends a call, answered later through `onCallback`; `argsJson`, when given, is the
   * args' JSON, sent as the frame's body. Returns false when the worker is not running.
   */
  call(message: CallMessage, argsJson?: Uint8Array): boolean;
  /** Asks the worker to stop call `id`; its callback then says `CANCELLED`. */
  cancel(id: number): void;
}
