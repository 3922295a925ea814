/**
 * The WebSocket gateway: HTTP and the WebSocket upgrade, one client at a time, each
 * message parsed and run through the command table, the worker's pushes sent back.
 *
 * {@linkcode WsGateway.handler} is the whole server as a function of a request, so it can
 * be tested without a socket; {@linkcode WsGateway.listen} puts the front door (the agent's
 * own accept loop, `_front_door.ts`) around it.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import { ErrorCode, errorCode, errorMessage } from "../errors.ts";
import { addLogTap } from "../log.ts";
import { admit, type Admitted, checkPlace } from "./_admission.ts";
import { CallRouter } from "./_calls.ts";
import { ConsoleFiles } from "./_console.ts";
import { ANONYMOUS_OPERATOR, Clients, Connection } from "./_clients.ts";
import { runCommand } from "./_commands.ts";
import type { CommandContext, GatewayServices } from "./_context.ts";
import { FrontDoor, type PeerAddress, type RequestInfo } from "./_front_door.ts";
import { Lease } from "./_lease.ts";
import { LogBook } from "./_logs.ts";
import type { WorkerLink } from "./_link.ts";
import {
  type ClientCommand,
  parseBinaryMessage,
  parseTextMessage,
  ProtocolError,
} from "./_protocol.ts";
import { FailureLimiter } from "./_rate_limit.ts";
import { errorReply, eventMessage, type ServerMessage } from "./_replies.ts";
import { SafetyStops } from "./_safety.ts";
import type { TlsCertificate } from "./_tls.ts";
import { TlsDoor } from "./_tls_door.ts";
import type { TokenStore } from "./_tokens.ts";
import { type VirtualPeer, VirtualSocket } from "./_virtual.ts";

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
  /**
   * The identities whose tokens open a connection; none means every connection is an
   * operator (`auth.required: false`, accepted only on loopback).
   */
  tokens?: TokenStore;
  /** Serve `wss://` with this certificate (`gateway.tls`); none serves `ws://`. */
  certificate?: TlsCertificate;
}

const TEXT_HEADERS = { "content-type": "text/plain; charset=utf-8" };

/** Serves the WebSocket protocol. */
export class WsGateway implements AsyncDisposable {
  #config: AgentConfig;
  #services: GatewayServices;
  #clients: Clients;
  #calls: CallRouter;
  #safety: SafetyStops;
  #lease: Lease;
  #limiter: FailureLimiter;
  #tokens: TokenStore | undefined;
  #door: FrontDoor | undefined;
  #tlsDoor: TlsDoor | undefined;
  #certificate: TlsCertificate | undefined;
  #closing = false;
  #console = new ConsoleFiles();
  #logs: LogBook;
  #untap: () => void;

  /** Creates the gateway and subscribes it to the worker link; nothing listens yet. */
  constructor(options: GatewayOptions) {
    const { config, link } = options;
    this.#config = config;
    this.#tokens = options.tokens;
    this.#certificate = options.certificate;
    this.#safety = new SafetyStops(link);
    this.#clients = new Clients({
      config: config.gateway,
      onControllerGone: (_, why) => void this.#safety.run(why),
    });
    this.#lease = new Lease(this.#clients, this.#safety);
    this.#logs = new LogBook({ version: () => this.#calls.table?.version });
    this.#untap = addLogTap((record) => this.#logs.push(record));
    this.#limiter = new FailureLimiter({
      maxFailures: config.auth.max_failures,
      windowMs: config.auth.failure_window_s * 1000,
      blockMs: config.auth.block_s * 1000,
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
      lease: this.#lease,
      safety: this.#safety,
      logs: this.#logs,
      uploads: new Map(),
      version: options.version,
      startedAt: Date.now(),
    };
    link.listen({
      onCallback: (id, outcome) => this.#calls.complete(id, outcome),
      onEvent: (event, data) => this.#clients.broadcast(eventMessage(event, data)),
      onProject: (project) => this.#calls.setTable(project),
      onWorkerExit: (how, { hung }) =>
        this.#calls.failInFlight(
          hung ? ErrorCode.HUNG : ErrorCode.WORKER_EXITED,
          hung
            ? `Call failed: the worker was restarted because ${how}`
            : `Call failed: the worker exited (${how}) before it returned`,
        ),
      onState: () => this.#calls.stateChanged(),
    });
  }

  /** Counters the client can see in `status`. */
  get counters(): Clients["counters"] {
    return this.#clients.counters;
  }

  /** The server as a function: HTTP answers, or the WebSocket upgrade. */
  handler(): (request: Request, info: RequestInfo) => Promise<Response> {
    return (request, info) => this.#handle(request, info);
  }

  /**
   * Listens on `gateway.host:gateway.port` through the front door (header timeout and
   * connection caps); resolves with the bound address.
   */
  async listen(): Promise<PeerAddress> {
    const { gateway } = this.#config;
    const certificate = this.#certificate;
    // With TLS the plain door listens on loopback only, behind the TLS door, which does
    // the per-address counting (everything reaches the plain door from 127.0.0.1).
    const secret = certificate ? crypto.randomUUID() : undefined;
    this.#door = new FrontDoor({
      hostname: certificate ? "127.0.0.1" : gateway.host,
      port: certificate ? 0 : gateway.port,
      headerTimeoutS: gateway.header_timeout_s,
      maxConnections: gateway.max_connections,
      maxPending: gateway.max_unauthenticated,
      maxPendingPerAddress: certificate
        ? gateway.max_unauthenticated
        : gateway.max_unauthenticated_per_address,
      handler: this.handler(),
      preambleSecret: secret,
    });
    const plain = await this.#door.listen();
    if (!certificate) return plain;
    this.#tlsDoor = new TlsDoor({
      hostname: gateway.host,
      port: gateway.port,
      cert: certificate.cert,
      key: certificate.key,
      innerPort: plain.port,
      secret: secret!,
      headerTimeoutS: gateway.header_timeout_s,
      maxConnections: gateway.max_connections,
      maxPending: gateway.max_unauthenticated,
      maxPendingPerAddress: gateway.max_unauthenticated_per_address,
    });
    return await this.#tlsDoor.listen();
  }

  /**
   * Takes an open WebSocket as a client connection: the controller, an observer, or
   * refused `BUSY`. The handler calls it on each upgrade; tests may call it with a socket
   * of their own. Resolves once the connection has its place.
   */
  async accept(
    socket: WebSocket,
    admitted: Partial<Admitted> & { peer?: string } = {},
  ): Promise<void> {
    if (this.#closing) {
      socket.close(CLOSE_SHUTDOWN, "agent shutting down");
      return;
    }
    const identity = admitted.identity ?? ANONYMOUS_OPERATOR;
    const connection = new Connection(socket, {
      session: admitted.session,
      identity,
      peer: admitted.peer,
    });
    socket.onerror = () => {};
    socket.onclose = (event) => this.#onClose(connection, event);
    // A takeover waits for the safety stop: what the client sends meanwhile waits too.
    const early: (string | ArrayBuffer)[] = [];
    socket.onmessage = (event) => early.push(event.data);
    const placed = admitted.observe
      ? this.#clients.observe(connection)
      : admitted.takeover
      ? await this.#lease.takeOver(connection)
      : this.#clients.attach(connection);
    if (!placed) {
      connection.gone = true;
      const kept = this.#clients.reservation;
      const why = admitted.observe
        ? `${this.#config.gateway.max_observers} observers are connected already`
        : !this.#clients.controller && kept
        ? `the slot is kept for ${kept.identity}, whose link dropped at ${kept.at}, until ` +
          `${new Date(kept.until).toISOString()}; add ?takeover=1 to take control now`
        : `another client is connected; add ?takeover=1 to take control, or ?observe=1 to watch`;
      socket.send(JSON.stringify(errorReply(ErrorCode.BUSY, `Connection refused: ${why}`)));
      socket.close(CLOSE_BUSY, "another client is connected");
      return;
    }
    socket.onmessage = (event) => this.#onMessage(connection, event.data);
    for (const data of early) this.#onMessage(connection, data);
  }

  /**
   * Opens a connection that has no WebSocket (the fleet mode's commands over NATS): the
   * same command table, lease and roles. Returns the socket stand-in, whose `receive`
   * takes the client's messages and `close` ends the connection; resolves once it has its
   * place (a refusal is sent to the peer and the socket is closed).
   */
  async openVirtual(
    peer: VirtualPeer,
    admitted: Partial<Admitted> & { peer?: string } = {},
  ): Promise<VirtualSocket> {
    const socket = new VirtualSocket(peer);
    await this.accept(socket.asWebSocket, admitted);
    return socket;
  }

  /**
   * A connection closed. Deno closes a WebSocket whose client answered no ping within the
   * idle timeout with 1001 ("No response from ping frame."), and reports a connection that
   * vanished without a close frame as 1006 (or 0): both are a link gone dark.
   */
  #onClose(connection: Connection, event: CloseEvent): void {
    const linkLost = event.code === 1006 || event.code === 0 ||
      (event.code === 1001 && /ping/i.test(event.reason));
    const why = linkLost
      ? `link lost: nothing heard from the client for ${this.#config.safety.link_timeout_ms} ms`
      : `client disconnected, close code ${event.code}`;
    this.#clients.detach(connection, why, { linkLost });
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
    await this.#safety.settled;
    this.#untap();
    await this.#tlsDoor?.close();
    await this.#door?.close();
  }

  /** Shuts the gateway down (the agent's stop). */
  [Symbol.asyncDispose](): Promise<void> {
    return this.shutdown();
  }

  async #handle(request: Request, info: RequestInfo): Promise<Response> {
    const url = new URL(request.url);
    const upgrade = request.headers.get("upgrade")?.toLowerCase() === "websocket";
    if (!upgrade && ConsoleFiles.owns(url.pathname)) {
      return checkPlace(request, this.#admissionContext()) ??
        await this.#console.respond(request, url.pathname);
    }
    if (url.pathname !== "/" && url.pathname !== "/ws") {
      return new Response("Not found\n", { status: 404, headers: TEXT_HEADERS });
    }
    if (!upgrade) {
      const misplaced = checkPlace(request, this.#admissionContext());
      if (misplaced) return misplaced;
      // A browser's WebSocket hides why a handshake was refused: the console asks here.
      if (request.headers.has("authorization")) {
        const admitted = await admit(request, info.remoteAddr, this.#admissionContext());
        return admitted instanceof Response ? admitted : new Response(null, { status: 204 });
      }
      return new Response("robot-agent: connect a WebSocket client to /ws\n", {
        headers: TEXT_HEADERS,
      });
    }
    const admitted = await admit(request, info.remoteAddr, this.#admissionContext());
    if (admitted instanceof Response) return admitted;
    // Deno pings after half the idle timeout without a frame and closes the connection
    // when the other half passes without one: that is the link-loss stop's clock.
    const { socket, response } = info.upgrade({
      protocol: admitted.protocol,
      idleTimeout: this.#config.safety.link_timeout_ms / 1000,
    });
    socket.binaryType = "arraybuffer";
    socket.onopen = () => void this.accept(socket, { ...admitted, peer: info.remoteAddr.hostname });
    return response;
  }

  #admissionContext() {
    return {
      config: this.#config,
      tokens: this.#tokens,
      limiter: this.#limiter,
      tls: this.#certificate !== undefined,
      sessionOwner: (session: string) => this.#clients.sessionOwner(session),
    };
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
