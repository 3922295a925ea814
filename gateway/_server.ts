/**
 * The WebSocket gateway: one client at a time, commands routed to the worker, replies,
 * callbacks and events sent back.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import { ErrorCode, errorCode, errorMessage } from "../errors.ts";
import type { CallOutcome, ReplyMessage } from "../ipc/mod.ts";
import { logger } from "../log.ts";
import {
  type ClientCommand,
  type ClientId,
  parseBinaryMessage,
  parseTextMessage,
  ProtocolError,
  reply,
  type ServerMessage,
} from "./_protocol.ts";
import type { WorkerSupervisor } from "./_supervisor.ts";

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
  supervisor: WorkerSupervisor;
  /** The agent's version, reported by `status`. */
  version: string;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
  /** Called with the bound address once listening. */
  onListen?(address: Deno.NetAddr): void;
}

interface CallRoute {
  clientId: ClientId | undefined;
}

/** Serves the WebSocket protocol on `gateway.host:gateway.port`. */
export class WsGateway {
  #options: GatewayOptions;
  #server: Deno.HttpServer<Deno.NetAddr>;
  #client: WebSocket | undefined;
  /** PROCESS requests accepted by the worker, by worker request id. */
  #calls = new Map<number, CallRoute>();
  /** The latest worker request id of each client call id, for `cancel`. */
  #callIds = new Map<ClientId, number>();
  /** Chunked uploads: the id of the `upload_begin` that gets the final reply. */
  #uploads = new Map<string, ClientId | undefined>();
  #startedAt = Date.now();
  #closing = false;
  /** The safety stop under way, which shutdown waits for. */
  #stopping: Promise<void> = Promise.resolve();

  /** Starts listening at once. */
  constructor(options: GatewayOptions) {
    this.#options = options;
    const { gateway } = options.config;
    this.#server = Deno.serve({
      hostname: gateway.host,
      port: gateway.port,
      signal: options.signal,
      onListen: (address) => options.onListen?.(address),
    }, (request) => this.#handle(request));
  }

  /** The bound address (useful with port 0). */
  get address(): Deno.NetAddr {
    return this.#server.addr;
  }

  /** Resolves when the server has stopped. */
  get finished(): Promise<void> {
    return this.#server.finished;
  }

  /** Delivers a worker callback to the client. */
  deliverCallback(requestId: number, outcome: CallOutcome): void {
    const route = this.#calls.get(requestId);
    if (!route) return;
    this.#calls.delete(requestId);
    if (route.clientId !== undefined && this.#callIds.get(route.clientId) === requestId) {
      this.#callIds.delete(route.clientId);
    }
    const message: ServerMessage = { status: "callback", data: outcome };
    if (route.clientId !== undefined) message.id = route.clientId;
    this.#send(message);
  }

  /** Delivers an event to the client. */
  deliverEvent(event: string, data: unknown): void {
    this.#send({ status: "callback", event, data });
  }

  /** Stops taking connections and closes the client with a shutdown code. */
  async shutdown(): Promise<void> {
    this.#closing = true;
    const client = this.#client;
    if (client) {
      this.#client = undefined;
      if (client.readyState === WebSocket.OPEN) client.close(CLOSE_SHUTDOWN, "agent shutting down");
      this.#safetyStop("agent shutdown");
    }
    await this.#stopping;
    await this.#server.shutdown();
  }

  /** Starts the safety stop in the worker; `#stopping` resolves when it is over. */
  #safetyStop(why: string): void {
    log.info("Running the safety stop ({why})", { why });
    const done = this.#options.supervisor.request("safety_stop").then((res) => {
      if (!res.ok) log.warn("Safety stop failed: {message}", { message: res.message });
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
    const { socket, response } = Deno.upgradeWebSocket(request, {
      idleTimeout: this.#options.config.gateway.idle_timeout_s,
    });
    socket.binaryType = "arraybuffer";
    socket.onopen = () => this.#onOpen(socket);
    return response;
  }

  #onOpen(socket: WebSocket): void {
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
    this.#client = socket;
    log.info("Client connected");
    socket.onmessage = (event) => this.#onMessage(socket, event.data);
    socket.onclose = (event) => this.#onClose(socket, event.code);
    socket.onerror = () => {};
  }

  #onClose(socket: WebSocket, code: number): void {
    if (this.#client !== socket) return;
    this.#client = undefined;
    this.#safetyStop(`client disconnected, close code ${code}`);
  }

  #send(message: ServerMessage): void {
    const client = this.#client;
    if (client?.readyState === WebSocket.OPEN) client.send(JSON.stringify(message));
  }

  #onMessage(socket: WebSocket, data: unknown): void {
    const max = this.#options.config.gateway.max_message_bytes;
    const size = typeof data === "string" ? data.length : (data as ArrayBuffer).byteLength;
    if (size > max) {
      this.#send(reply("error", `Message refused: ${size} bytes exceed the limit of ${max}`, {
        code: ErrorCode.MESSAGE_TOO_LARGE,
      }));
      socket.close(CLOSE_TOO_LARGE, "message too large");
      return;
    }
    let command: ClientCommand;
    try {
      command = typeof data === "string"
        ? parseTextMessage(data)
        : parseBinaryMessage(new Uint8Array(data as ArrayBuffer));
    } catch (error) {
      const id = error instanceof ProtocolError ? error.id : undefined;
      this.#send(
        reply("error", errorMessage(error), { id, code: errorCode(error, ErrorCode.BAD_REQUEST) }),
      );
      return;
    }
    this.#dispatch(command, typeof data === "string");
  }

  #dispatch(command: ClientCommand, text: boolean): void {
    const supervisor = this.#options.supervisor;
    const id = command.id;
    const answer = (res: ReplyMessage, message?: string) =>
      this.#send(
        res.ok
          ? reply("success", message ?? res.message, { id, data: res.data })
          : reply("error", res.message, { id, code: res.code, data: res.data }),
      );
    switch (command.command) {
      case "process": {
        const params = { object: command.object, method: command.method, args: command.args };
        supervisor.request("process", params).then((res) => {
          if (res.ok) {
            this.#calls.set(res.id, { clientId: id });
            if (id !== undefined) this.#callIds.set(id, res.id);
            this.#send(reply("success", "Call accepted", {
              id,
              data: { object: command.object, method: command.method },
            }));
          } else answer(res);
        });
        return;
      }
      case "update":
        supervisor.request("update", {}, command.data).then((res) => answer(res));
        return;
      case "start":
        supervisor.request("start").then((res) => answer(res));
        return;
      case "status":
        supervisor.request("status").then((res) => {
          const data = {
            ...(res.ok ? res.data as object : { worker_error: res.message }),
            agent: {
              version: this.#options.version,
              uptime_s: (Date.now() - this.#startedAt) / 1000,
            },
          } as Record<string, unknown>;
          data.worker = {
            ...(data.worker as object),
            pid: supervisor.pid,
            restarts: supervisor.restarts,
            state: supervisor.state,
          };
          this.#send(reply("success", "Status", { id, data }));
        });
        return;
      case "cancel": {
        const requestId = this.#callIds.get(command.callId);
        if (requestId === undefined) {
          this.#send(
            reply(
              "error",
              `Cannot cancel call: no call ${JSON.stringify(command.callId)} is in flight`,
              {
                id,
                code: ErrorCode.BAD_REQUEST,
              },
            ),
          );
          return;
        }
        supervisor.request("cancel", { call_id: requestId }).then((res) => answer(res));
        return;
      }
      case "upload_begin":
        supervisor.request("upload_begin", { size: command.size, sha256: command.sha256 }).then(
          (res) => {
            if (res.ok) {
              this.#uploads.set(command.sha256, id);
              const data = res.data as Record<string, unknown>;
              data.max_chunk_bytes = this.#options.config.upload.max_chunk_bytes;
              answer(res);
            } else answer(res);
          },
        );
        return;
      case "upload_chunk": {
        if (command.data.length > this.#options.config.upload.max_chunk_bytes) {
          this.#send(reply("error", "Chunk refused: larger than upload.max_chunk_bytes", {
            id,
            code: ErrorCode.UPLOAD_ERROR,
          }));
          return;
        }
        const params = { upload_id: command.uploadId, offset: command.offset };
        supervisor.request("upload_chunk", params, command.data).then((res) => {
          const data = (res.data ?? {}) as Record<string, unknown>;
          if (data.complete) {
            // The last chunk: the deploy's outcome is the reply to upload_begin.
            const beginId = this.#uploads.get(command.uploadId);
            this.#uploads.delete(command.uploadId);
            this.#send(
              res.ok
                ? reply("success", res.message, { id: beginId, data })
                : reply("error", res.message, { id: beginId, code: res.code, data }),
            );
            if (text) this.#send(reply("success", "Chunk stored", { id, data }));
          } else if (res.ok && !text) {
            this.deliverEvent("upload_progress", data);
          } else {
            answer(res);
          }
        });
        return;
      }
    }
  }
}
