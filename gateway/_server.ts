/**
 * The WebSocket gateway: HTTP and the WebSocket upgrade, one client at a time, each
 * message parsed and run through the command table, the worker's pushes sent back.
 *
 * {@linkcode WsGateway.handler} is the whole server as a function of a request, so it can
 * be tested without a socket; {@linkcode WsGateway.listen} is a thin `Deno.serve` around it.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import { ErrorCode, errorCode, errorMessage } from "../errors.ts";
import { logger } from "../log.ts";
import { CallRouter } from "./_calls.ts";
import { ANONYMOUS_OPERATOR, Clients, Connection, type Identity } from "./_clients.ts";
import { runCommand } from "./_commands.ts";
import type { CommandContext, GatewayServices } from "./_context.ts";
import type { WorkerLink } from "./_link.ts";
import {
  type ClientCommand,
  parseBinaryMessage,
  parseTextMessage,
  ProtocolError,
} from "./_protocol.ts";
import { errorReply, eventMessage, type ServerMessage } from "./_replies.ts";
import { MAX_SESSION_ID_LENGTH } from "./_sessions.ts";

const log = logger("gateway", "server");

/** Close code sent to a second client while one is connected. */
export const CLOSE_BUSY = 4001;
/** Close code for a message over `gateway.max_message_bytes`. */
export const CLOSE_TOO_LARGE = 4009;
/** Close code when the agent shuts down. */
export const CLOSE_SHUTDOWN = 4002;

/** Options for {@linkcode WsGateway}. */
export interface GatewayOptions {
  config: AgentConfig;
  link: WorkerLink;
  /** The agent's version, reported by `status`. */
  version: string;
}

/** Options for {@linkcode WsGateway.listen}. */
export interface ListenOptions {
  /** Stops the server when aborted. */
  signal?: AbortSignal;
  /** Called with the bound address once listening. */
  onListen?(address: Deno.NetAddr): void;
}

const TEXT_HEADERS = { "content-type": "text/plain; charset=utf-8" };

/** Serves the WebSocket protocol. */
export class WsGateway implements AsyncDisposable {
  #config: AgentConfig;
  #services: GatewayServices;
  #clients: Clients;
  #calls: CallRouter;
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;
  #closing = false;
  /** The safety stops under way, which shutdown waits for. */
  #stopping: Promise<void> = Promise.resolve();

  /** Creates the gateway and subscribes it to the worker link; nothing listens yet. */
  constructor(options: GatewayOptions) {
    const { config, link } = options;
    this.#config = config;
    this.#clients = new Clients({
      config: config.gateway,
      onControllerGone: (_, why) => this.#safetyStop(why),
    });
    this.#calls = new CallRouter({
      link,
      deliver: (route, message) => this.#clients.deliver(route.origin, message, "result"),
    });
    this.#services = {
      config,
      link,
      calls: this.#calls,
      clients: this.#clients,
      uploads: new Map(),
      version: options.version,
      startedAt: Date.now(),
    };
    link.listen({
      onCallback: (id, outcome) => this.#calls.complete(id, outcome),
      onEvent: (event, data) => this.#clients.broadcast(eventMessage(event, data)),
      onProject: (project) => this.#calls.setTable(project),
      onWorkerExit: (how) =>
        this.#calls.failInFlight(
          ErrorCode.WORKER_EXITED,
          `Call failed: the worker exited (${how}) before it returned`,
        ),
      onState: () => this.#calls.stateChanged(),
    });
  }

  /** Counters the client can see in `status`. */
  get counters(): Clients["counters"] {
    return this.#clients.counters;
  }

  /** The server as a function: HTTP answers, or the WebSocket upgrade. */
  handler(): (request: Request) => Response {
    return (request) => this.#handle(request);
  }

  /** Listens on `gateway.host:gateway.port`; a thin wrapper around {@linkcode handler}. */
  listen(options: ListenOptions = {}): Deno.HttpServer<Deno.NetAddr> {
    const { host, port } = this.#config.gateway;
    this.#server = Deno.serve({
      hostname: host,
      port,
      signal: options.signal,
      onListen: (address) => options.onListen?.(address),
    }, this.handler());
    return this.#server;
  }

  /**
   * Takes an open WebSocket as a client connection: the controller, or refused `BUSY`.
   * The handler calls it on each upgrade; tests may call it with a socket of their own.
   */
  accept(socket: WebSocket, options: { session?: string; identity?: Identity } = {}): void {
    if (this.#closing) {
      socket.close(CLOSE_SHUTDOWN, "agent shutting down");
      return;
    }
    const identity = options.identity ?? ANONYMOUS_OPERATOR;
    const connection = new Connection(socket, { session: options.session, identity });
    socket.onerror = () => {};
    if (!this.#clients.attach(connection)) {
      connection.gone = true;
      const refusal = errorReply(
        ErrorCode.BUSY,
        "Connection refused: another client is connected",
      );
      socket.send(JSON.stringify(refusal));
      socket.close(CLOSE_BUSY, "another client is connected");
      return;
    }
    socket.onmessage = (event) => this.#onMessage(connection, event.data);
    socket.onclose = (event) =>
      this.#clients.detach(connection, `client disconnected, close code ${event.code}`);
  }

  /** Stops taking connections, fails what is in flight, closes the client, stops listening. */
  async shutdown(): Promise<void> {
    this.#closing = true;
    this.#calls.close(ErrorCode.SHUTTING_DOWN, "Call failed: the agent is shutting down");
    const client = this.#clients.controller;
    if (client) {
      this.#clients.detach(client, "agent shutdown");
      client.socket.close(CLOSE_SHUTDOWN, "agent shutting down");
    }
    await this.#stopping;
    await this.#server?.shutdown();
  }

  /** Shuts the gateway down (the agent's stop). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  /** Starts the safety stop in the worker; `#stopping` resolves when it is over. */
  #safetyStop(why: string): void {
    log.info("Running the safety stop ({why})", { why });
    const began = performance.now();
    const done = this.#services.link.request("safety_stop", { reason: why }).then((res) => {
      const ms = Math.round((performance.now() - began) * 10) / 10;
      if (res.ok) log.info("Safety stop done in {ms} ms", { ms, ran: res.data });
      else log.warn("Safety stop failed after {ms} ms: {message}", { ms, message: res.message });
    });
    this.#stopping = Promise.all([this.#stopping, done]).then(() => {});
  }

  #handle(request: Request): Response {
    const url = new URL(request.url);
    const upgrade = request.headers.get("upgrade")?.toLowerCase() === "websocket";
    if (url.pathname !== "/" && url.pathname !== "/ws") {
      return new Response("Not found\n", { status: 404, headers: TEXT_HEADERS });
    }
    if (!upgrade) {
      return new Response("robot-agent: connect a WebSocket client to /ws\n", {
        headers: TEXT_HEADERS,
      });
    }
    const session = url.searchParams.get("session") ?? undefined;
    if (session !== undefined && (session === "" || session.length > MAX_SESSION_ID_LENGTH)) {
      return new Response(`session must be 1 to ${MAX_SESSION_ID_LENGTH} characters\n`, {
        status: 400,
        headers: TEXT_HEADERS,
      });
    }
    const { socket, response } = Deno.upgradeWebSocket(request, {
      idleTimeout: this.#config.gateway.idle_timeout_s,
    });
    socket.binaryType = "arraybuffer";
    socket.onopen = () => this.accept(socket, { session });
    return response;
  }

  /** The message's size in bytes; a UTF-16 length understates UTF-8 up to three times. */
  #size(data: string | ArrayBuffer): number {
    if (typeof data !== "string") return data.byteLength;
    const max = this.#config.gateway.max_message_bytes;
    return data.length * 3 > max ? new TextEncoder().encode(data).length : data.length;
  }

  #onMessage(connection: Connection, data: string | ArrayBuffer): void {
    const size = this.#size(data);
    const max = this.#config.gateway.max_message_bytes;
    const send = (message: ServerMessage) => this.#clients.deliver(connection, message, "result");
    if (size > max) {
      const message = `Message refused: ${size} bytes exceed the limit of ${max}`;
      send(errorReply(ErrorCode.MESSAGE_TOO_LARGE, message));
      this.#clients.detach(connection, "message too large");
      connection.socket.close(CLOSE_TOO_LARGE, "message too large");
      return;
    }
    let command: ClientCommand;
    try {
      command = typeof data === "string"
        ? parseTextMessage(data)
        : parseBinaryMessage(new Uint8Array(data));
    } catch (error) {
      const id = error instanceof ProtocolError ? error.id : undefined;
      send(errorReply(errorCode(error, ErrorCode.BAD_REQUEST), errorMessage(error), { id }));
      return;
    }
    const ctx: CommandContext = {
      connection,
      identity: connection.identity,
      id: command.id,
      text: typeof data === "string",
      size,
      services: this.#services,
      reply: send,
      notify: (event, eventData) =>
        this.#clients.deliver(connection, eventMessage(event, eventData), "event"),
    };
    runCommand(ctx, command);
  }
}
