/**
 * The WebSocket gateway: one client at a time, commands routed to the worker, replies,
 * callbacks and events sent back.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import { ErrorCode, errorCode, errorMessage } from "../errors.ts";
import {
  type CallOutcome,
  failedOutcome,
  INLINE_JSON_LIMIT,
  releaseBytes,
  type ReplyMessage,
} from "../ipc/mod.ts";
import { logger } from "../log.ts";
import {
  type ClientCommand,
  type ClientId,
  encodeServerMessage,
  parseBinaryMessage,
  parseTextMessage,
  ProtocolError,
  reply,
  type ServerMessage,
} from "./_protocol.ts";
import { MAX_SESSION_ID_LENGTH, SessionStore } from "./_sessions.ts";
import type { WorkerSupervisor } from "./_supervisor.ts";

const log = logger("gateway", "server");

/** The largest piece of an upload chunk sent to the worker in one IPC frame. */
const IPC_SLICE_BYTES = 256 * 1024;

/** Close code sent to a second client while one is connected. */
export const CLOSE_BUSY = 4001;
/** Close code for a message over `gateway.max_message_bytes`. */
export const CLOSE_TOO_LARGE = 4009;
/** Close code when the agent shuts down. */
export const CLOSE_SHUTDOWN = 4002;
/** Close code for a client that reads too slowly (`gateway.max_buffered_bytes`). */
export const CLOSE_TOO_SLOW = 4008;

/** Options for {@linkcode WsGateway}. */
export interface GatewayOptions {
  config: AgentConfig;
  supervisor: WorkerSupervisor;
  /** The agent's version, reported by `status`. */
  version: string;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
  /** Called with the bound address once listening. */
  onListen?(address: Deno.NetAddr): void;
}

/** One accepted WebSocket connection. */
class Connection {
  readonly socket: WebSocket;
  /** The `?session=` id, when the client gave one. */
  readonly session: string | undefined;
  /** Set once the connection is given up; nothing more is written to it. */
  gone = false;

  constructor(socket: WebSocket, session: string | undefined) {
    this.socket = socket;
    this.session = session;
  }
}

interface CallRoute {
  clientId: ClientId | undefined;
  origin: Connection;
  object: string;
  method: string;
}

/** What is being delivered: results are never dropped silently; events may be. */
type Kind = "result" | "event";

/** Serves the WebSocket protocol on `gateway.host:gateway.port`. */
export class WsGateway {
  #options: GatewayOptions;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #client: Connection | undefined;
  #sessions: SessionStore;
  #droppedEvents = 0;
  #droppedResults = 0;
  /** PROCESS requests accepted by the worker, by worker request id. */
  #calls = new Map<number, CallRoute>();
  /**
   * Callbacks that overtook their ACK: the worker may send a call's reply and its
   * callback in one write, and the callback is read before the reply's handler runs.
   */
  #early = new Map<number, CallOutcome>();
  /** The latest worker request id of each client call id, for `cancel`. */
  #callIds = new Map<ClientId, number>();
  /** Chunked uploads: the `upload_begin` that gets the final reply. */
  #uploads = new Map<string, { id: ClientId | undefined; origin: Connection }>();
  #startedAt = Date.now();
  #closing = false;
  /** The safety stop under way, which shutdown waits for. */
  #stopping: Promise<void> = Promise.resolve();

  /** Starts listening at once. */
  constructor(options: GatewayOptions) {
    this.#options = options;
    const { gateway } = options.config;
    this.#sessions = new SessionStore({
      maxResults: gateway.session_max_results,
      maxAgeS: gateway.session_max_age_s,
    });
    this.#server = Deno.serve({
      hostname: gateway.host,
      port: gateway.port,
      signal: options.signal,
      onListen: (address) => options.onListen?.(address),
    }, (request) => this.#handle(request));
  }

  /** Delivers a worker callback to the client that made the call (or its session). */
  deliverCallback(requestId: number, outcome: CallOutcome): void {
    const route = this.#calls.get(requestId);
    if (!route) {
      this.#early.set(requestId, outcome);
      return;
    }
    this.#calls.delete(requestId);
    if (route.clientId !== undefined && this.#callIds.get(route.clientId) === requestId) {
      this.#callIds.delete(route.clientId);
    }
    const message: ServerMessage = { status: "callback", data: outcome };
    if (route.clientId !== undefined) message.id = route.clientId;
    this.#deliver(route.origin, message, "result");
  }

  /** Delivers an event to the current client, if any; events are not kept for sessions. */
  deliverEvent(event: string, data: unknown): void {
    if (this.#client) this.#deliver(this.#client, { status: "callback", event, data }, "event");
  }

  /** Counters the client can see in `status`. */
  get counters(): Record<string, number> {
    return {
      dropped_events: this.#droppedEvents,
      dropped_results: this.#droppedResults + this.#sessions.dropped,
      held_results: this.#sessions.held,
    };
  }

  /** Stops taking connections and closes the client with a shutdown code. */
  async shutdown(): Promise<void> {
    this.#closing = true;
    for (const [requestId, route] of this.#calls) {
      this.#calls.delete(requestId);
      const message: ServerMessage = {
        status: "callback",
        data: failedOutcome(
          route.object,
          route.method,
          ErrorCode.SHUTTING_DOWN,
          "ShuttingDown",
          "Call failed: the agent is shutting down",
        ),
      };
      if (route.clientId !== undefined) message.id = route.clientId;
      this.#deliver(route.origin, message, "result");
    }
    const client = this.#client;
    if (client) {
      this.#detach(client, "agent shutdown");
      client.socket.close(CLOSE_SHUTDOWN, "agent shutting down");
    }
    await this.#stopping;
    await this.#server.shutdown();
  }

  /** Starts the safety stop in the worker; `#stopping` resolves when it is over. */
  #safetyStop(why: string): void {
    log.info("Running the safety stop ({why})", { why });
    const began = performance.now();
    const done = this.#options.supervisor.request("safety_stop").then((res) => {
      const ms = Math.round((performance.now() - began) * 10) / 10;
      if (res.ok) log.info("Safety stop done in {ms} ms", { ms, ran: res.data });
      else log.warn("Safety stop failed after {ms} ms: {message}", { ms, message: res.message });
    });
    this.#stopping = Promise.all([this.#stopping, done]).then(() => {});
  }

  #handle(request: Request): Response {
    const url = new URL(request.url);
    const upgrade = request.headers.get("upgrade")?.toLowerCase() === "websocket";
    if (!upgrade) {
      if (url.pathname === "/" || url.pathname === "/ws") {
        return new Response("robot-agent: connect a WebSocket client to /ws\n", {
          headers: { "content-type": "text/plain; charset=utf-8" },
        });
      }
      return new Response("Not found\n", { status: 404 });
    }
    if (url.pathname !== "/" && url.pathname !== "/ws") {
      return new Response("Not found\n", { status: 404 });
    }
    const session = url.searchParams.get("session") ?? undefined;
    if (session !== undefined && (session === "" || session.length > MAX_SESSION_ID_LENGTH)) {
      return new Response(`session must be 1 to ${MAX_SESSION_ID_LENGTH} characters\n`, {
        status: 400,
      });
    }
    const { socket, response } = Deno.upgradeWebSocket(request, {
      idleTimeout: this.#options.config.gateway.idle_timeout_s,
    });
    socket.binaryType = "arraybuffer";
    socket.onopen = () => this.#onOpen(socket, session);
    return response;
  }

  #onOpen(socket: WebSocket, session: string | undefined): void {
    if (this.#closing) {
      socket.close(CLOSE_SHUTDOWN, "agent shutting down");
      return;
    }
    if (this.#client) {
      socket.send(JSON.stringify(
        reply("error", "Connection refused: another client is connected", { code: ErrorCode.BUSY }),
      ));
      socket.close(CLOSE_BUSY, "another client is connected");
      return;
    }
    const connection = new Connection(socket, session);
    this.#client = connection;
    log.info("Client connected (session {session})", { session: session ?? "none" });
    socket.onmessage = (event) => this.#onMessage(connection, event.data);
    socket.onclose = (event) =>
      this.#detach(connection, `client disconnected, close code ${event.code}`);
    socket.onerror = () => {};
    if (session !== undefined) {
      const held = this.#sessions.attach(session);
      if (held.length > 0) log.info("Replaying {n} held results", { n: held.length });
      for (const text of held) socket.send(text);
    }
  }

  /** Gives up a connection: frees the slot, keeps its session's results, runs the safety stop. */
  #detach(connection: Connection, why: string): void {
    if (connection.gone) return;
    connection.gone = true;
    if (this.#client !== connection) return;
    this.#client = undefined;
    if (connection.session !== undefined) this.#sessions.detach(connection.session);
    this.#safetyStop(why);
  }

  /**
   * Sends to the connection a message belongs to, or to the same session reconnected;
   * results for a session that is away are held for it.
   */
  #deliver(origin: Connection, message: ServerMessage, kind: Kind): void {
    const client = this.#client;
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

  /** Writes unless the client is too far behind; returns whether it was written. */
  #write(connection: Connection, text: string, kind: Kind): boolean {
    const { gateway } = this.#options.config;
    const socket = connection.socket;
    if (connection.gone || socket.readyState !== WebSocket.OPEN) return false;
    const backlog = socket.bufferedAmount;
    if (kind === "event" && backlog > gateway.event_buffered_bytes) return false;
    if (backlog + text.length > gateway.max_buffered_bytes) {
      log.warn("Client reads too slowly ({backlog} bytes waiting); closing it", { backlog });
      this.#detach(connection, "client too slow");
      socket.close(CLOSE_TOO_SLOW, "client reads too slowly");
      return false;
    }
    socket.send(text);
    return true;
  }

  #onMessage(origin: Connection, data: unknown): void {
    const max = this.#options.config.gateway.max_message_bytes;
    // A UTF-16 length can understate the UTF-8 size up to three times: encode only then.
    const size = typeof data !== "string"
      ? (data as ArrayBuffer).byteLength
      : data.length * 3 > max
      ? new TextEncoder().encode(data).length
      : data.length;
    if (size > max) {
      const message = `Message refused: ${size} bytes exceed the limit of ${max}`;
      this.#deliver(
        origin,
        reply("error", message, { code: ErrorCode.MESSAGE_TOO_LARGE }),
        "result",
      );
      this.#detach(origin, "message too large");
      origin.socket.close(CLOSE_TOO_LARGE, "message too large");
      return;
    }
    let command: ClientCommand;
    try {
      command = typeof data === "string"
        ? parseTextMessage(data)
        : parseBinaryMessage(new Uint8Array(data as ArrayBuffer));
    } catch (error) {
      const id = error instanceof ProtocolError ? error.id : undefined;
      const code = errorCode(error, ErrorCode.BAD_REQUEST);
      this.#deliver(origin, reply("error", errorMessage(error), { id, code }), "result");
      return;
    }
    this.#dispatch(origin, command, typeof data === "string", size);
  }

  /** `size`: the message's length, which bounds (roughly) the JSON of a call's args. */
  #dispatch(origin: Connection, command: ClientCommand, text: boolean, size: number): void {
    const supervisor = this.#options.supervisor;
    const id = command.id;
    const send = (message: ServerMessage) => this.#deliver(origin, message, "result");
    const answer = (res: ReplyMessage, message?: string) =>
      send(
        res.ok
          ? reply("success", message ?? res.message, { id, data: res.data })
          : reply("error", res.message, { id, code: res.code, data: res.data }),
      );
    switch (command.command) {
      case "process": {
        const params = { object: command.object, method: command.method, args: command.args };
        const route = { clientId: id, origin, object: command.object, method: command.method };
        const ack = () =>
          send(reply("success", "Call accepted", {
            id,
            data: { object: command.object, method: command.method },
          }));
        // The common case: an object the running project has. ACK now, before the call
        // even reaches the worker; the route exists before any callback can arrive.
        const accepted = supervisor.accept(params, { longArgs: size > INLINE_JSON_LIMIT });
        if (accepted !== undefined) {
          this.#calls.set(accepted, route);
          if (id !== undefined) this.#callIds.set(id, accepted);
          ack();
          return;
        }
        supervisor.request("process", params).then((res) => {
          if (!res.ok) return answer(res);
          this.#calls.set(res.id, route);
          if (id !== undefined) this.#callIds.set(id, res.id);
          ack();
          const early = this.#early.get(res.id);
          if (early) {
            this.#early.delete(res.id);
            this.deliverCallback(res.id, early);
          }
        });
        return;
      }
      case "update":
        supervisor.request("update", {}, command.data).then((res) => {
          // The zip is on disk now (or refused): free it rather than wait for a GC.
          releaseBytes(command.data);
          answer(res);
        });
        return;
      case "start":
        supervisor.request("start").then((res) => answer(res));
        return;
      case "rollback":
        supervisor.request("rollback").then((res) => answer(res));
        return;
      case "status":
        supervisor.request("status").then((res) => {
          const data = {
            ...(res.ok ? res.data as object : { worker_error: res.message }),
            agent: {
              version: this.#options.version,
              uptime_s: (Date.now() - this.#startedAt) / 1000,
            },
            gateway: { ...this.counters, session: origin.session ?? null },
          } as Record<string, unknown>;
          data.worker = {
            ...(data.worker as object),
            pid: supervisor.pid,
            restarts: supervisor.restarts,
            state: supervisor.state,
          };
          send(reply("success", "Status", { id, data }));
        });
        return;
      case "cancel": {
        const requestId = this.#callIds.get(command.callId);
        if (requestId === undefined) {
          const message = `Cannot cancel call: no call ${
            JSON.stringify(command.callId)
          } is in flight`;
          send(reply("error", message, { id, code: ErrorCode.BAD_REQUEST }));
          return;
        }
        supervisor.request("cancel", { call_id: requestId }).then((res) => answer(res));
        return;
      }
      case "upload_begin": {
        const params = { size: command.size, sha256: command.sha256 };
        supervisor.request("upload_begin", params).then((res) => {
          if (res.ok) {
            this.#uploads.set(command.sha256, { id, origin });
            (res.data as Record<string, unknown>).max_chunk_bytes =
              this.#options.config.upload.max_chunk_bytes;
          }
          answer(res);
        });
        return;
      }
      case "upload_chunk": {
        if (command.data.length > this.#options.config.upload.max_chunk_bytes) {
          const message = "Chunk refused: larger than upload.max_chunk_bytes";
          send(reply("error", message, { id, code: ErrorCode.UPLOAD_ERROR }));
          return;
        }
        // Pieces of at most IPC_SLICE_BYTES go to the worker, so an urgent request (a
        // robot command) waits behind at most one slice, never a whole chunk.
        const slices: Promise<ReplyMessage>[] = [];
        const count = Math.max(1, Math.ceil(command.data.length / IPC_SLICE_BYTES));
        for (let i = 0; i < count; i++) {
          const at = i * IPC_SLICE_BYTES;
          const params = { upload_id: command.uploadId, offset: command.offset + at };
          const body = command.data.subarray(at, at + IPC_SLICE_BYTES);
          slices.push(supervisor.request("upload_chunk", params, body));
        }
        Promise.all(slices).then((replies) => replies.find((r) => !r.ok) ?? replies.at(-1)!).then(
          (res) => {
            // The worker has stored every slice: free the chunk rather than wait for a GC.
            releaseBytes(command.data);
            const data = (res.data ?? {}) as Record<string, unknown>;
            if (data.complete) {
              // The last chunk: the deploy's outcome is the reply to upload_begin.
              const begin = this.#uploads.get(command.uploadId) ?? { id: undefined, origin };
              this.#uploads.delete(command.uploadId);
              this.#deliver(
                begin.origin,
                res.ok
                  ? reply("success", res.message, { id: begin.id, data })
                  : reply("error", res.message, { id: begin.id, code: res.code, data }),
                "result",
              );
              if (text) send(reply("success", "Chunk stored", { id, data }));
            } else if (res.ok && !text) {
              this.#deliver(
                origin,
                { status: "callback", event: "upload_progress", data },
                "event",
              );
            } else {
              answer(res);
            }
          },
        );
        return;
      }
    }
  }
}
