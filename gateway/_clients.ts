/**
 * The connected clients: the controller's slot, sessions that outlive a connection, and
 * delivery of replies, callbacks and events with back-pressure.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import { logger } from "../log.ts";
import { encodeServerMessage, type ServerMessage } from "./_replies.ts";
import { SessionStore } from "./_sessions.ts";

const log = logger("gateway", "clients");

/** Close code for a client that reads too slowly (`gateway.max_buffered_bytes`). */
export const CLOSE_TOO_SLOW = 4008;

/** Who a connection speaks for. */
export interface Identity {
  /** The identity's name, shown in `status` and the log. */
  name: string;
  /** What it may do: an `operator` controls the robot, an `observer` watches. */
  role: "operator" | "observer";
}

/** The identity of every connection while the agent has no access control configured. */
export const ANONYMOUS_OPERATOR: Identity = { name: "anonymous", role: "operator" };

let connections = 0;

/** How a connection takes part: it controls the robot, or watches. */
export type ConnectionRole = "controller" | "observer";

/** One accepted WebSocket connection. */
export class Connection {
  /** The socket. */
  readonly socket: WebSocket;
  /** The `?session=` id, when the client gave one. */
  readonly session: string | undefined;
  /** Who connected. */
  readonly identity: Identity;
  /**
   * Whose calls these are: the session when there is one (so a reconnected client can
   * cancel what it started before), else this connection alone.
   */
  readonly owner: string;
  /** The client's address, for the log and `status`. */
  readonly peer: string;
  /** When it connected (ISO 8601). */
  readonly since: string = new Date().toISOString();
  /** Whether it holds the controller's slot or watches; set by {@linkcode Clients}. */
  role: ConnectionRole = "observer";
  /** Set once the connection is given up; nothing more is written to it. */
  gone = false;

  /** Wraps an open socket. */
  constructor(
    socket: WebSocket,
    options: { session?: string; identity: Identity; peer?: string },
  ) {
    this.socket = socket;
    this.session = options.session;
    this.identity = options.identity;
    this.peer = options.peer ?? "local";
    this.owner = options.session !== undefined
      ? `session:${options.session}`
      : `connection:${++connections}`;
  }
}

/** What is being delivered: results are never dropped silently; events may be. */
export type DeliveryKind = "result" | "event";

/** What `status` says of one connection. */
export interface ConnectionInfo {
  identity: string;
  role: ConnectionRole;
  session: string | null;
  peer: string;
  since: string;
}

/** The slot kept for a controller whose link went dark, until it is back or the time is up. */
export interface Reservation {
  identity: string;
  session: string | undefined;
  /** Why the robot was stopped. */
  reason: string;
  /** When the safety stop ran (ISO 8601). */
  at: string;
  /** `Date.now()` past which the slot is free again. */
  until: number;
}

/** Options for {@linkcode Clients}. */
export interface ClientsOptions {
  config: AgentConfig["gateway"];
  /** Called when the controller's connection is given up (the safety stop follows). */
  onControllerGone(connection: Connection, why: string): void;
}

/** The controller's slot, the observers beside it, and what is delivered to them. */
export class Clients {
  #config: AgentConfig["gateway"];
  #onControllerGone: ClientsOptions["onControllerGone"];
  #controller: Connection | undefined;
  #observers = new Set<Connection>();
  #reservation: Reservation | undefined;
  #sessions: SessionStore;
  #droppedEvents = 0;
  #droppedResults = 0;

  /** Creates an empty slot. */
  constructor(options: ClientsOptions) {
    this.#config = options.config;
    this.#onControllerGone = options.onControllerGone;
    this.#sessions = new SessionStore({
      maxResults: options.config.session_max_results,
      maxAgeS: options.config.session_max_age_s,
      maxBytes: options.config.session_max_bytes,
    });
  }

  /** The connection holding the slot, if any. */
  get controller(): Connection | undefined {
    return this.#controller;
  }

  /** Who is connected, controller first. */
  list(): ConnectionInfo[] {
    const all = [...(this.#controller ? [this.#controller] : []), ...this.#observers];
    return all.map((c) => ({
      identity: c.identity.name,
      role: c.role,
      session: c.session ?? null,
      peer: c.peer,
      since: c.since,
    }));
  }

  /** The slot kept for a controller whose link went dark, while it is kept. */
  get reservation(): Reservation | undefined {
    if (this.#reservation && Date.now() > this.#reservation.until) this.#reservation = undefined;
    return this.#reservation;
  }

  /** The identity that created a session, if it exists. */
  sessionOwner(session: string): string | undefined {
    return this.#sessions.ownerOf(session);
  }

  /** Counters the client can see in `status`. */
  get counters(): { dropped_events: number; dropped_results: number; held_results: number } {
    return {
      dropped_events: this.#droppedEvents,
      dropped_results: this.#droppedResults + this.#sessions.dropped,
      held_results: this.#sessions.held,
    };
  }

  /**
   * Gives the slot to a connection and sends it what its session held; false when the
   * slot is taken.
   */
  attach(connection: Connection, options: { takeover?: boolean } = {}): boolean {
    if (this.#controller) return false;
    const kept = this.reservation;
    if (kept && kept.identity !== connection.identity.name && !options.takeover) return false;
    this.#reservation = undefined;
    this.#observers.delete(connection);
    this.#controller = connection;
    connection.role = "controller";
    log.info("{identity} controls the robot (session {session}, from {peer})", {
      identity: connection.identity.name,
      session: connection.session ?? "none",
      peer: connection.peer,
    });
    this.#replay(connection);
    if (kept) {
      // It is back: tell it the robot was stopped while it was away, and why.
      this.deliver(connection, {
        status: "callback",
        event: "safety_stop",
        data: { reason: kept.reason, at: kept.at, link_lost: true },
      }, "event");
    }
    return true;
  }

  /** Adds a watching connection; false past `gateway.max_observers`. */
  observe(connection: Connection): boolean {
    if (this.#observers.size >= this.#config.max_observers) return false;
    this.#observers.add(connection);
    connection.role = "observer";
    log.info("{identity} observes (from {peer})", {
      identity: connection.identity.name,
      peer: connection.peer,
    });
    this.#replay(connection);
    return true;
  }

  /**
   * Takes the slot from the controller without the safety stop the caller has already
   * run: the old controller is detached quietly (its session keeps its results).
   */
  unseat(why: string): Connection | undefined {
    const old = this.#controller;
    if (!old) return undefined;
    this.#controller = undefined;
    old.gone = true;
    if (old.session !== undefined) this.#sessions.detach(old.session);
    log.info("{identity} lost control: {why}", { identity: old.identity.name, why });
    return old;
  }

  /** Stops counting a connection as an observer (it is about to become the controller). */
  detachObserver(connection: Connection): void {
    this.#observers.delete(connection);
  }

  /**
   * Gives up a connection: frees its place and keeps its session's results. A controller
   * whose link went dark (`linkLost`) keeps the slot for `gateway.idle_timeout_s`.
   */
  detach(connection: Connection, why: string, options: { linkLost?: boolean } = {}): void {
    if (connection.gone) return;
    connection.gone = true;
    if (this.#observers.delete(connection)) {
      if (connection.session !== undefined) this.#sessions.detach(connection.session);
      return;
    }
    if (this.#controller !== connection) return;
    this.#controller = undefined;
    if (connection.session !== undefined) this.#sessions.detach(connection.session);
    if (options.linkLost) {
      this.#reservation = {
        identity: connection.identity.name,
        session: connection.session,
        reason: why,
        at: new Date().toISOString(),
        until: Date.now() + this.#config.idle_timeout_s * 1000,
      };
    }
    this.#onControllerGone(connection, why);
  }

  #replay(connection: Connection): void {
    if (connection.session === undefined) return;
    const held = this.#sessions.attach(connection.session, connection.identity.name);
    if (held.length > 0) log.info("Replaying {n} held results", { n: held.length });
    for (const text of held) connection.socket.send(text);
  }

  /**
   * Sends to the connection a message belongs to, or to the same session reconnected;
   * results for a session that is away are held for it.
   */
  deliver(origin: Connection, message: ServerMessage, kind: DeliveryKind): void {
    const target = this.#liveFor(origin);
    const text = encodeServerMessage(message);
    if (target && this.#write(target, text, kind)) return;
    if (kind === "event") {
      this.#droppedEvents++;
      return;
    }
    const summary = origin.session === undefined ? undefined : summarize(message, text.length);
    if (origin.session === undefined || !this.#sessions.hold(origin.session, text, { summary })) {
      this.#droppedResults++;
      log.warn("Result dropped: its client is gone and gave no session id");
    }
  }

  /** The live connection a message for `origin` goes to: itself, or its session's new one. */
  #liveFor(origin: Connection): Connection | undefined {
    if (!origin.gone) return origin;
    if (origin.session === undefined) return undefined;
    const all = [...(this.#controller ? [this.#controller] : []), ...this.#observers];
    return all.find((c) =>
      c.session === origin.session && c.identity.name === origin.identity.name
    );
  }

  /** Sends an event to the controller and every observer; events are not kept for sessions. */
  broadcast(message: ServerMessage): void {
    if (this.#controller) this.deliver(this.#controller, message, "event");
    for (const observer of this.#observers) this.deliver(observer, message, "event");
  }

  /** Writes unless the client is too far behind; returns whether it was written. */
  #write(connection: Connection, text: string, kind: DeliveryKind): boolean {
    const socket = connection.socket;
    if (connection.gone || socket.readyState !== WebSocket.OPEN) return false;
    const backlog = socket.bufferedAmount;
    if (kind === "event" && backlog > this.#config.event_buffered_bytes) return false;
    if (backlog + text.length > this.#config.max_buffered_bytes) {
      log.warn("Client reads too slowly ({backlog} bytes waiting); closing it", { backlog });
      this.detach(connection, "client too slow");
      socket.close(CLOSE_TOO_SLOW, "client reads too slowly");
      return false;
    }
    socket.send(text);
    return true;
  }
}

/**
 * A result cut down to its outcome, for a session over its byte cap: a callback keeps its
 * object, method, `ok` and error code; a reply its status and code.
 */
function summarize(message: ServerMessage, bytes: number): string {
  const data = message.data as {
    object?: unknown;
    method?: unknown;
    ok?: unknown;
    error?: { code?: unknown };
  } | null;
  const dropped = { dropped: "session_max_bytes", bytes };
  const summary: ServerMessage = message.status === "callback"
    ? {
      status: "callback",
      data: {
        object: data?.object,
        method: data?.method,
        ok: data?.ok,
        ...(data?.ok === false ? { error: { code: data.error?.code } } : {}),
        ...dropped,
      },
    }
    : { status: message.status, message: message.message, data: dropped };
  if (message.id !== undefined) summary.id = message.id;
  if (message.code !== undefined) summary.code = message.code;
  return JSON.stringify(summary);
}
