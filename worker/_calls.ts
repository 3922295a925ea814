/**
 * The call path in the worker: a `call` message goes to the running project and comes
 * back as exactly one `cb`. The gateway has ACKed (or refused) it already from the
 * project table; the Python host checks object and method names as the last line of
 * defence, so the worker does not.
 *
 * @module
 */
import { ErrorCode, errorMessage } from "../errors.ts";
import type { CallOptions, Executor } from "../executors/mod.ts";
import {
  type CallMessage,
  type CallOutcome,
  failedOutcome,
  type WorkerMessage,
  type WorkerStatus,
} from "../ipc/mod.ts";
import { logger } from "../log.ts";
import type { ProjectRunner } from "./_runner.ts";
import type { SerialQueue } from "./_serial.ts";

const log = logger("worker", "calls");

/** A long result stays the host's JSON text, passed on as the `cb` frame's body. */
const RAW: CallOptions = { rawResult: true };
const NO_ARGS: Record<string, unknown> = Object.freeze({});

/** Options for {@linkcode CallRouter}. */
export interface CallRouterOptions {
  runner: ProjectRunner;
  /** Calls wait for the starts and rollbacks under way in it. */
  queue: SerialQueue;
  send(message: WorkerMessage, body?: Uint8Array): void;
}

/**
 * Routes calls to the project's executor and sends their callbacks.
 *
 * A call that arrives during a START or rollback waits for it and goes to the project it
 * started. A call to a Python project whose process exited restarts it (one restart,
 * shared by every call waiting; docs/reliability.md has the policy).
 */
export class CallRouter {
  #runner: ProjectRunner;
  #queue: SerialQueue;
  #send: CallRouterOptions["send"];
  /** Calls waiting for a start or a restart, by id: a cancel answers them at once. */
  #held = new Map<number, CallMessage>();
  #counts = { accepted: 0, completed: 0, failed: 0 };

  /** A router with no call yet. */
  constructor(options: CallRouterOptions) {
    this.#runner = options.runner;
    this.#queue = options.queue;
    this.#send = options.send;
  }

  /** The call counts of `status`. */
  get counts(): WorkerStatus["calls"] {
    const inFlight = this.#runner.executor?.status().in_flight ?? 0;
    return { ...this.#counts, in_flight: inFlight + this.#held.size };
  }

  /** Runs one call; long args come as `argsJson`, the JSON text the gateway encoded. */
  call(message: CallMessage, argsJson: Uint8Array | undefined): void {
    this.#counts.accepted++;
    this.#route(message, argsJson);
  }

  /**
   * Stops call `id`: its callback says `CANCELLED`. An id that is not in flight is
   * ignored: the call has been answered already.
   */
  cancel(id: number): void {
    const held = this.#held.get(id);
    if (held) {
      this.#held.delete(id);
      const { object, method } = held;
      this.#callback(
        id,
        failedOutcome(
          object,
          method,
          ErrorCode.CANCELLED,
          "CancelledError",
          `Call cancelled: ${object}.${method} was cancelled before it started`,
        ),
      );
      return;
    }
    if (this.#runner.executor?.cancel(id)) return;
    log.debug("Cannot cancel call {id}: it is not in flight", { id });
  }

  #route(message: CallMessage, argsJson: Uint8Array | undefined): void {
    const switching = this.#queue.switching;
    if (switching) {
      this.#held.set(message.id, message);
      switching.then(() => {
        if (this.#held.delete(message.id)) this.#route(message, argsJson);
      });
      return;
    }
    // While a restart is under way the executor is gone or replaced: wait for the restart,
    // so every call that finds the project exited shares the one restart.
    const reviving = this.#runner.reviving;
    const executor = this.#runner.executor;
    if (reviving) {
      this.#afterRevive(message, argsJson, reviving);
    } else if (!executor) {
      this.#callback(message.id, notStarted(message));
    } else if (executor.running || !executor.revivable) {
      // One that cannot run it says why (C++: NOT_SUPPORTED).
      this.#run(executor, message, argsJson);
    } else {
      this.#afterRevive(message, argsJson, this.#runner.revive(executor));
    }
  }

  #afterRevive(
    message: CallMessage,
    argsJson: Uint8Array | undefined,
    revived: Promise<Executor>,
  ): void {
    this.#held.set(message.id, message);
    revived.then(
      (live) => {
        if (this.#held.delete(message.id)) this.#run(live, message, argsJson);
      },
      (error) => {
        if (this.#held.delete(message.id)) this.#callback(message.id, notRevived(message, error));
      },
    );
  }

  #run(executor: Executor, message: CallMessage, argsJson: Uint8Array | undefined): void {
    const { id, object, method } = message;
    const options = message.timeout_s === undefined ? RAW : { ...RAW, timeoutS: message.timeout_s };
    executor.call(id, { object, method, args: argsJson ?? message.args ?? NO_ARGS }, options)
      .then((outcome) => this.#callback(id, outcome));
  }

  /** Sends a call's outcome; a long result's JSON goes as the frame's body, unparsed. */
  #callback(id: number, outcome: CallOutcome): void {
    const { resultJson, ...data } = outcome;
    try {
      this.#send({ t: "cb", id, data }, resultJson);
    } catch (error) {
      // A result within a few bytes of the frame limit, which the host checked without
      // the bytes this frame's JSON adds.
      this.#counts.failed++;
      this.#send({
        t: "cb",
        id,
        data: failedOutcome(
          outcome.object,
          outcome.method,
          ErrorCode.NOT_SERIALIZABLE,
          "RangeError",
          `Cannot send result of ${outcome.object}.${outcome.method}: ${errorMessage(error)}`,
        ),
      });
      return;
    }
    if (outcome.ok) this.#counts.completed++;
    else this.#counts.failed++;
  }
}

function notStarted({ object, method }: CallMessage): CallOutcome {
  return failedOutcome(
    object,
    method,
    ErrorCode.NOT_STARTED,
    "CallRefused",
    "Cannot call method: no project is started; send start first",
  );
}

function notRevived({ object, method }: CallMessage, error: unknown): CallOutcome {
  return failedOutcome(
    object,
    method,
    ErrorCode.EXECUTOR_EXITED,
    "ExecutorExited",
    `Call failed: the Python process had exited and could not be restarted: ${errorMessage(error)}`,
  );
}
