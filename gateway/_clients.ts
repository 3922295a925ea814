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
  /** Set once the connection is given up; nothing more is written to it. */
  gone = false;

  /** Wraps an open socket. */
  constructor(socket: WebSocket, options: { session?: string; identity: Identity }) {
    this.socket = socket;
    this.session = options.session;
    this.identity = options.identity;
    this.owner = options.session !== undefined
      ? `session:${options.session}`
      : `connection:${++connections}`;
  }
}

/** What is being delivered: results are never dropped silently; events may be. */
export type DeliveryKind = "result" | "event";

/** Options for {@linkcode Clients}. */
export interface ClientsOptions {
  config: AgentConfig["gateway"];
  /** Called when the controller's connection is given up (the safety stop follows). */
  onControllerGone(connection: Connection, why: string): void;
}

/** The controller's slot and what is delivered to it. */
export class Clients {
  #config: AgentConfig["gateway"];
  #onControllerGone: ClientsOptions["onControllerGone"];
  #controller: Connection | undefined;
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
    });
  }

  /** The connection holding the slot, if any. */
  get controller(): Connection | undefined {
    return this.#controller;
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
  attach(connection: Connection): boolean {
    if (this.#controller) return false;
    this.#controller = connection;
    log.info("Client connected (session {session})", { session: connection.session ?? "none" });
    if (connection.session !== undefined) {
      const held = this.#sessions.attach(connection.session);
      if (held.length > 0) log.info("Replaying {n} held results", { n: held.length });
      for (const text of held) connection.socket.send(text);
    }
    return true;
  }

  /** Gives up a connection: frees the slot and keeps its session's results. */
  detach(connection: Connection, why: string): void {
    if (connection.gone) return;
    connection.gone = true;
    if (this.#controller !== connection) return;
    this.#controller = undefined;
    if (connection.session !== undefined) this.#sessions.detach(connection.session);
    this.#onControllerGone(connection, why);
  }

  /**
   * Sends to the connection a message belongs to, or to the same session reconnected;
   * results for a session that is away are held for it.
   */
  deliver(origin: Connection, message: ServerMessage, kind: DeliveryKind): void {
    const client = this.#controller;
    const target = client && (client === origin ||
        (origin.session !== undefined && client.session === origin.session))
      ? client
      : undefined;
    const text = encodeServerMessage(message);
    if (target && this.#write(target, text, kind)) return;
    if (kind === "event") {
      this.#droppedEvents++;
    } else if (origin.session === undefined || !this.#sessions.hold(origin.session, text)) {
      this.#droppedResults++;
      log.warn("Result dropped: its client is gone and gave no session id");
    }
  }

  /** Sends an event to the controller, if any; events are not kept for sessions. */
  broadcast(message: ServerMessage): void {
    if (this.#controller) this.deliver(this.#controller, message, "event");
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
