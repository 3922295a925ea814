/**
 * The one path of a PROCESS call: judged against the project table the worker publishes,
 * ACKed or refused here, sent to the worker, its callback routed back to whoever made it.
 *
 * Commands from one client take effect in the order sent: a call sent behind a command
 * that changes the project (update, start, rollback, an upload's last chunk) is held
 * until that command is answered, and then judged against the table it left; so is a
 * call sent while the worker (re)starts.
 *
 * @module
 */
import { ErrorCode } from "../errors.ts";
import {
  type CallOutcome,
  failedOutcome,
  INLINE_JSON_LIMIT,
  type ProjectTable,
} from "../ipc/mod.ts";
import { argsProblem } from "./_args_check.ts";
import type { Connection } from "./_clients.ts";
import type { WorkerLink } from "./_link.ts";
import { type ClientId, errorReply, reply, type ServerMessage } from "./_replies.ts";

const encoder = new TextEncoder();

/** A call as the client asked for it. */
export interface CallRequest {
  origin: Connection;
  clientId: ClientId | undefined;
  object: string;
  method: string;
  args: Record<string, unknown>;
  /** The client's message length, which bounds the args' JSON (long args go as bytes). */
  size: number;
  /** Seconds the call may run, when the client asked for less than the default. */
  timeoutS?: number;
  /**
   * Sends the ACK or refusal the moment it is decided, and {@linkcode CallRouter.process}
   * then resolves undefined. Without it a callback could overtake its ACK: the worker's exit
   * fails the call in flight at once, while a returned ACK is sent only once the command's
   * promise chain resumes.
   */
  reply?: (message: ServerMessage) => void;
}

/** What the gateway counts of calls since it started (worker restarts do not reset it). */
export interface CallCounters {
  accepted: number;
  completed: number;
  failed: number;
  refused: number;
}

/** Why calls are refused for now: the robot is e-stopped. */
export interface EstopState {
  by: string;
  reason: string;
  at: string;
}

/** Where a call's callback goes. */
export interface CallRoute {
  origin: Connection;
  clientId: ClientId | undefined;
  object: string;
  method: string;
}

/** Options for {@linkcode CallRouter}. */
export interface CallRouterOptions {
  link: WorkerLink;
  /** Delivers a call's callback message to whoever made the call. */
  deliver(route: CallRoute, message: ServerMessage): void;
}

/** A call's ACK or refusal; undefined when it went through the request's `reply`. */
export type Answer = ServerMessage | undefined;

/** Sends `message` through the request's `reply` if it has one, else hands it back. */
function answer(request: CallRequest, message: ServerMessage): Answer {
  if (!request.reply) return message;
  request.reply(message);
  return undefined;
}

interface Held {
  request: CallRequest;
  /** The number of the last project-changing command sent before this call. */
  after: number;
  resolve(reply: ServerMessage | undefined): void;
}

/** Calls in flight and calls held, for one gateway. */
export class CallRouter {
  #link: WorkerLink;
  #deliver: CallRouterOptions["deliver"];
  /** The worker's table; null: nothing started; undefined: unknown (worker not running). */
  #table: ProjectTable | null | undefined = undefined;
  /** The table's objects, for lookups on every call. */
  #objects = new Map<string, ReadonlySet<string>>();
  #held: Held[] = [];
  /** Numbers of the project-changing commands not yet answered. */
  #switching = new Set<number>();
  #switches = 0;
  #routes = new Map<number, CallRoute>();
  /** Per owner and client id, the call in flight (for cancel). */
  #byClientId = new Map<string, number>();
  #nextId = 1;
  #closed: { code: ErrorCode; message: string } | undefined;
  #counters: CallCounters = { accepted: 0, completed: 0, failed: 0, refused: 0 };
  #estop: EstopState | undefined;
  /** Calls cancelled by an e-stop: their callbacks say so. */
  #estopCancelled = new Set<number>();

  /** Creates a router over a worker link. */
  constructor(options: CallRouterOptions) {
    this.#link = options.link;
    this.#deliver = options.deliver;
  }

  /** Calls sent and not yet answered. */
  get inFlight(): number {
    return this.#routes.size;
  }

  /** Counts since the gateway started. */
  get counters(): CallCounters & { in_flight: number; held: number } {
    return { ...this.#counters, in_flight: this.#routes.size, held: this.#held.length };
  }

  /** The e-stop in force, if any. */
  get estop(): EstopState | undefined {
    return this.#estop;
  }

  /**
   * E-stops: from now on calls are refused `ESTOPPED`; held calls are refused at once and
   * every call in flight is asked to stop (its callback says `CANCELLED`, reason `estop`).
   * Returns how many were cancelled.
   */
  engageEstop(state: EstopState): number {
    this.#estop = state;
    let cancelled = 0;
    for (const held of this.#held.splice(0)) {
      cancelled++;
      held.resolve(errorReply(ErrorCode.CANCELLED, `Call cancelled: e-stop by ${state.by}`, {
        id: held.request.clientId,
        data: { object: held.request.object, method: held.request.method, reason: "estop" },
      }));
    }
    for (const id of this.#routes.keys()) {
      cancelled++;
      this.#estopCancelled.add(id);
      this.#link.cancel(id);
    }
    return cancelled;
  }

  /** Releases the e-stop: calls are taken again. */
  releaseEstop(): void {
    this.#estop = undefined;
  }

  /** The table calls are judged against now. */
  get table(): ProjectTable | null | undefined {
    return this.#table;
  }

  /** The worker published a new table (or lost it: undefined). */
  setTable(table: ProjectTable | null | undefined): void {
    this.#table = table;
    this.#objects = new Map(
      Object.entries(table?.objects ?? {}).map(([name, methods]) => [name, new Set(methods)]),
    );
    this.#release();
  }

  /** The worker's state changed: held calls may be answerable now (e.g. it crashed). */
  stateChanged(): void {
    this.#release();
  }

  /**
   * Marks a project-changing command as sent; calls that arrive until the returned
   * function is called wait for it. Call the function after the command's reply is sent,
   * so held calls are answered after it.
   */
  hold(): () => void {
    const number = ++this.#switches;
    this.#switching.add(number);
    return () => {
      this.#switching.delete(number);
      this.#release();
    };
  }

  /** ACKs or refuses a call; an ACKed call's outcome comes later as its callback. */
  process(request: CallRequest): Answer | Promise<Answer> {
    if (this.#held.length === 0 && !this.#mustWait(this.#switches)) {
      return answer(request, this.#send(request));
    }
    return new Promise((resolve) => this.#held.push({ request, after: this.#switches, resolve }));
  }

  /**
   * Cancels a call: a held one is refused at once with `CANCELLED`; one in flight is
   * asked to stop (its callback says so). Returns false when no such call is known.
   */
  cancel(origin: Connection, clientId: ClientId): boolean {
    const held = this.#held.findIndex((h) =>
      h.request.clientId === clientId && h.request.origin.owner === origin.owner
    );
    if (held >= 0) {
      const [{ request, resolve }] = this.#held.splice(held, 1);
      resolve(answer(
        request,
        errorReply(ErrorCode.CANCELLED, "Call cancelled before it started", {
          id: request.clientId,
          data: { object: request.object, method: request.method },
        }),
      ));
      return true;
    }
    const id = this.#byClientId.get(ownerKey(origin, clientId));
    if (id === undefined) return false;
    this.#link.cancel(id);
    return true;
  }

  /** Routes the worker's callback for call `id` to whoever made it. */
  complete(id: number, outcome: CallOutcome): void {
    const route = this.#routes.get(id);
    if (!route) return;
    this.#routes.delete(id);
    if (outcome.ok) this.#counters.completed++;
    else this.#counters.failed++;
    if (this.#estopCancelled.delete(id) && outcome.error?.code === ErrorCode.CANCELLED) {
      outcome = { ...outcome, error: { ...outcome.error, reason: "estop" } };
    }
    if (route.clientId !== undefined) {
      const key = ownerKey(route.origin, route.clientId);
      if (this.#byClientId.get(key) === id) this.#byClientId.delete(key);
    }
    const message: ServerMessage = { status: "callback", data: outcome };
    if (route.clientId !== undefined) message.id = route.clientId;
    this.#deliver(route, message);
  }

  /** Fails every call in flight: the worker that had them exited. */
  failInFlight(code: ErrorCode, message: string): void {
    for (const [id, route] of this.#routes) {
      this.complete(id, failedOutcome(route.object, route.method, code, "WorkerExited", message));
    }
  }

  /** Refuses every held call and every later one, and fails those in flight (shutdown). */
  close(code: ErrorCode, message: string): void {
    this.#closed = { code, message };
    for (const [id, route] of this.#routes) {
      this.complete(id, failedOutcome(route.object, route.method, code, "ShuttingDown", message));
    }
    this.#release();
  }

  #mustWait(after: number): boolean {
    if (this.#closed) return false;
    for (const number of this.#switching) if (number <= after) return true;
    const state = this.#link.state;
    return this.#table === undefined && (state === "starting" || state === "restarting");
  }

  /** Answers held calls, oldest first, until one must still wait. */
  #release(): void {
    while (this.#held.length > 0 && !this.#mustWait(this.#held[0].after)) {
      const held = this.#held.shift()!;
      held.resolve(answer(held.request, this.#send(held.request)));
    }
  }

  #send(request: CallRequest): ServerMessage {
    const refusal = this.#refusal(request);
    if (refusal) {
      this.#counters.refused++;
      return refusal;
    }
    const { origin, clientId, object, method, args } = request;
    const id = this.#nextId++;
    this.#routes.set(id, { origin, clientId, object, method });
    if (clientId !== undefined) this.#byClientId.set(ownerKey(origin, clientId), id);
    const timeout = request.timeoutS === undefined ? {} : { timeout_s: request.timeoutS };
    // Long args go as the frame's body, which the worker passes to the project unparsed.
    const sent = request.size > INLINE_JSON_LIMIT
      ? this.#link.call(
        { t: "call", id, object, method, ...timeout },
        encoder.encode(JSON.stringify(args)),
      )
      : this.#link.call({ t: "call", id, object, method, args, ...timeout });
    if (!sent) {
      this.#routes.delete(id);
      if (clientId !== undefined) this.#byClientId.delete(ownerKey(origin, clientId));
      return errorReply(ErrorCode.WORKER_UNAVAILABLE, "Cannot call method: the worker is gone", {
        id: clientId,
      });
    }
    this.#counters.accepted++;
    return reply("success", "Call accepted", { id: clientId, data: { object, method } });
  }

  #refusal(request: CallRequest): ServerMessage | undefined {
    const { clientId: id, object, method } = request;
    const refuse = (code: ErrorCode, message: string) => errorReply(code, message, { id });
    if (this.#closed) return refuse(this.#closed.code, this.#closed.message);
    if (this.#estop) {
      return refuse(
        ErrorCode.ESTOPPED,
        `Cannot call method: the robot is e-stopped (by ${this.#estop.by}: ${this.#estop.reason}); ` +
          "the controller sends estop_release to go on",
      );
    }
    const table = this.#table;
    if (table === undefined) {
      const why = this.#link.state === "crashed"
        ? "the worker crashed repeatedly and is stopped; see the agent's log"
        : "the worker is not running";
      return refuse(ErrorCode.WORKER_UNAVAILABLE, `Cannot call method: ${why}`);
    }
    if (table === null) {
      return refuse(
        ErrorCode.NOT_STARTED,
        "Cannot call method: no project is started; send start first",
      );
    }
    if (table.type === "cpp") {
      return refuse(
        ErrorCode.NOT_SUPPORTED,
        "Cannot call method: the current project is a C++ executable, which takes no calls",
      );
    }
    const methods = this.#objects.get(object);
    if (id !== undefined && this.#byClientId.has(ownerKey(request.origin, id))) {
      return refuse(
        ErrorCode.DUPLICATE_ID,
        `Cannot call method: a call with id ${JSON.stringify(id)} is still in flight; ` +
          "use a new id for each call",
      );
    }
    if (!methods) {
      const known = Object.keys(table.objects).join(", ") || "none";
      return refuse(
        ErrorCode.UNKNOWN_OBJECT,
        `Cannot call method: the project has no object ${
          JSON.stringify(object)
        } (objects: ${known})`,
      );
    }
    if (!methods.has(method)) {
      return refuse(
        ErrorCode.UNKNOWN_METHOD,
        `Cannot call method: ${object} has no method ${JSON.stringify(method)}`,
      );
    }
    const info = table.describe?.objects[object]?.methods[method];
    const problem = info && argsProblem(request.args, info);
    if (problem) {
      const pointer = problem.slice(0, problem.indexOf(":"));
      return errorReply(
        ErrorCode.BAD_ARGS,
        `Cannot call ${object}.${method}: args${problem}`,
        { id, data: { object, method, pointer: `/params/args${pointer}` } },
      );
    }
    return undefined;
  }
}

function ownerKey(origin: Connection, clientId: ClientId): string {
  return `${origin.owner}\u0000${typeof clientId}:${clientId}`;
}
