/**
 * The front door: the agent's own accept loop for HTTP and the WebSocket upgrade.
 *
 * `Deno.serve` accepts every connection it can and has no header timeout, so a flood of
 * half-open connections held the agent's file descriptors until `accept` failed with
 * EMFILE and the process ended. Here each connection is counted from its first byte:
 * connections that have not finished their request headers are capped in all and per
 * address and closed after `header_timeout_s`; all connections together stay below the
 * process's open-file limit, so `accept` never runs out. The request is then parsed and
 * handed to the gateway's handler as a `Request`; an upgrade goes to
 * `Deno.upgradeWebSocket` over the same TCP connection, so the WebSocket is Deno's own.
 *
 * @module
 */
import net from "node:net";
import { Buffer } from "node:buffer";
import { logger } from "../log.ts";

const log = logger("gateway", "door");

/** File descriptors kept free for everything else the gateway opens (logs, IPC, pipes). */
const FD_RESERVE = 64;
/** The longest request head accepted. */
const MAX_HEAD_BYTES = 16 * 1024;
/** How often a refusal of the same kind is logged, at most. */
const LOG_EVERY_MS = 10_000;

/** The peer of a connection. */
export interface PeerAddress {
  hostname: string;
  port: number;
}

/** What the handler is given besides the request. */
export interface RequestInfo {
  /** Who connected. */
  remoteAddr: PeerAddress;
  /**
   * Takes the connection over as a WebSocket: writes the 101 response and returns the
   * socket and that response (return it from the handler).
   */
  upgrade(options: { protocol?: string; idleTimeout: number }): {
    socket: WebSocket;
    response: Response;
  };
}

/** Answers one request; an upgrade answers with `info.upgrade()`'s response. */
export type RequestHandler = (request: Request, info: RequestInfo) => Response | Promise<Response>;

/** Options for {@linkcode FrontDoor}. */
export interface FrontDoorOptions {
  hostname: string;
  port: number;
  /** Seconds a connection may take to send its request headers. */
  headerTimeoutS: number;
  /** Connections open at once; lowered to stay below the open-file limit. */
  maxConnections: number;
  /** Connections that have not finished their request, in all and per address. */
  maxPending: number;
  maxPendingPerAddress: number;
  handler: RequestHandler;
  /**
   * Set when the door sits behind the TLS door on loopback: each connection must open
   * with `ROBOT-AGENT-PEER SECRET ADDRESS PORT\r\n`, naming the client the TLS door
   * accepted; a connection without it is closed.
   */
  preambleSecret?: string;
}

/** The first line the TLS door writes to the plain door for each connection. */
export function peerPreamble(secret: string, peer: PeerAddress): string {
  return `ROBOT-AGENT-PEER ${secret} ${peer.hostname} ${peer.port}\r\n`;
}

/** The soft limit on open files of this process, from /proc (Linux); undefined elsewhere. */
export function openFileLimit(): number | undefined {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
    return soft === undefined || soft === "unlimited" ? undefined : Number(soft);
  } catch {
    return undefined;
  }
}

/** One connection: its socket, its peer, and whether its request is in yet. */
interface Visitor {
  socket: net.Socket;
  /** The client: the socket's peer, or the one the TLS door names in its preamble. */
  peer: PeerAddress;
  /** The address its pending count was kept under (the socket's peer). */
  countedAs: string;
  pending: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** Listens, counts and parses; the gateway's handler does the rest. */
export class FrontDoor implements AsyncDisposable {
  #options: FrontDoorOptions;
  #server: net.Server | undefined;
  #visitors = new Set<Visitor>();
  #pendingByAddress = new Map<string, number>();
  #pending = 0;
  #maxConnections: number;
  #loggedAt = new Map<string, number>();
  #address: PeerAddress | undefined;

  /** Creates the door; {@linkcode listen} opens it. */
  constructor(options: FrontDoorOptions) {
    this.#options = options;
    const limit = openFileLimit();
    this.#maxConnections = limit === undefined
      ? options.maxConnections
      : Math.max(4, Math.min(options.maxConnections, limit - FD_RESERVE));
  }

  /** Connections open now, and how many of them have not finished their request. */
  get counts(): { open: number; pending: number; max: number } {
    return { open: this.#visitors.size, pending: this.#pending, max: this.#maxConnections };
  }

  /** Listens; resolves with the bound address. */
  listen(): Promise<PeerAddress> {
    // No Nagle: a WebSocket carries small messages (an ACK, a callback) that must go out
    // at once, not wait up to 40 ms for the peer's delayed ACK. Deno.serve sets it too.
    const server = net.createServer(
      { pauseOnConnect: false, noDelay: true },
      (socket) => this.#admit(socket),
    );
    this.#server = server;
    const { promise, resolve, reject } = Promise.withResolvers<PeerAddress>();
    server.once("error", reject);
    server.listen(this.#options.port, this.#options.hostname, () => {
      server.off("error", reject);
      server.on("error", (error) => this.#onServerError(error));
      const address = server.address() as net.AddressInfo;
      this.#address = { hostname: address.address, port: address.port };
      resolve(this.#address);
    });
    return promise;
  }

  /**
   * Stops listening and closes every connection not yet upgraded. (WebSockets are the
   * gateway's to close; node's own close callback would wait for them forever, since it
   * never sees a connection Deno took over end.)
   */
  close(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    for (const visitor of this.#visitors) if (visitor.pending) visitor.socket.destroy();
    server?.close();
    return Promise.resolve();
  }

  /** Closes the door. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #onServerError(error: unknown): void {
    // Listening broke (it never should below the fd limit): log, and listen again.
    log.error("Gateway listener failed: {error}; listening again in 1 s", {
      error: String(error),
    });
    const address = this.#address;
    const old = this.#server;
    this.#server = undefined;
    old?.close();
    setTimeout(() => {
      if (!address || this.#server !== undefined) return;
      this.#options.port = address.port;
      this.listen().catch((again) =>
        log.fatal("Gateway listener cannot listen again: {error}", { error: String(again) })
      );
    }, 1000);
  }

  #refuseQuietly(kind: string, message: string, properties: Record<string, unknown>): void {
    const now = Date.now();
    if (now - (this.#loggedAt.get(kind) ?? -Infinity) < LOG_EVERY_MS) return;
    this.#loggedAt.set(kind, now);
    log.warn(message, properties);
  }

  #admit(socket: net.Socket): void {
    const peer = { hostname: socket.remoteAddress ?? "?", port: socket.remotePort ?? 0 };
    socket.on("error", () => {});
    socket.setNoDelay(true);
    if (this.#visitors.size >= this.#maxConnections) {
      this.#refuseQuietly("full", "Refusing connections: {max} open (the limit)", {
        max: this.#maxConnections,
      });
      socket.destroy();
      return;
    }
    const fromPeer = this.#pendingByAddress.get(peer.hostname) ?? 0;
    if (
      this.#pending >= this.#options.maxPending ||
      fromPeer >= this.#options.maxPendingPerAddress
    ) {
      this.#refuseQuietly("pending", "Refusing connections from {peer}: too many unfinished", {
        peer: peer.hostname,
        pending: this.#pending,
        fromPeer,
      });
      socket.destroy();
      return;
    }
    const visitor: Visitor = {
      socket,
      peer,
      countedAs: peer.hostname,
      pending: true,
      timer: undefined,
    };
    this.#visitors.add(visitor);
    this.#pending++;
    this.#pendingByAddress.set(peer.hostname, fromPeer + 1);
    visitor.timer = setTimeout(() => {
      this.#refuseQuietly("timeout", "Closing connections that sent no request in {s} s", {
        s: this.#options.headerTimeoutS,
        peer: peer.hostname,
      });
      socket.destroy();
    }, this.#options.headerTimeoutS * 1000);
    socket.on("close", () => {
      this.#settle(visitor);
      this.#visitors.delete(visitor);
    });
    this.#readHead(visitor);
  }

  /** The request is in (or the connection is gone): it no longer counts as pending. */
  #settle(visitor: Visitor): void {
    if (!visitor.pending) return;
    visitor.pending = false;
    clearTimeout(visitor.timer);
    this.#pending--;
    const left = (this.#pendingByAddress.get(visitor.countedAs) ?? 1) - 1;
    if (left > 0) this.#pendingByAddress.set(visitor.countedAs, left);
    else this.#pendingByAddress.delete(visitor.countedAs);
  }

  #readHead(visitor: Visitor): void {
    const { socket } = visitor;
    let buffered: Buffer = Buffer.alloc(0);
    let preamble = this.#options.preambleSecret !== undefined;
    const onData = (chunk: Buffer) => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      if (preamble) {
        const line = buffered.indexOf("\r\n");
        if (line < 0) return;
        const peer = this.#readPreamble(buffered.subarray(0, line).toString("latin1"));
        if (!peer) {
          socket.destroy();
          return;
        }
        visitor.peer = peer;
        preamble = false;
        buffered = buffered.subarray(line + 2);
      }
      const end = buffered.indexOf("\r\n\r\n");
      if (end < 0) {
        if (buffered.length > MAX_HEAD_BYTES) {
          socket.off("data", onData);
          this.#settle(visitor);
          writeResponse(socket, plain(431, "Request header fields too large\n"));
        }
        return;
      }
      // Whatever follows the head belongs to the WebSocket: stop reading here.
      socket.pause();
      socket.off("data", onData);
      this.#settle(visitor);
      const head = buffered.subarray(0, end).toString("latin1");
      const rest = new Uint8Array(buffered.subarray(end + 4));
      this.#serve(visitor, head, rest).catch((error) => {
        log.error("Request failed: {error}", { error: String(error) });
        writeResponse(socket, plain(500, "Internal error\n"));
      });
    };
    socket.on("data", onData);
  }

  #readPreamble(line: string): PeerAddress | undefined {
    const [word, secret, hostname, port] = line.split(" ");
    if (word !== "ROBOT-AGENT-PEER" || secret !== this.#options.preambleSecret) return undefined;
    return { hostname, port: Number(port) };
  }

  async #serve(visitor: Visitor, head: string, rest: Uint8Array): Promise<void> {
    const { socket, peer } = visitor;
    const parsed = parseHead(head);
    if (typeof parsed === "string") {
      writeResponse(socket, plain(400, `${parsed}\n`));
      return;
    }
    let upgraded: Response | undefined;
    const info: RequestInfo = {
      remoteAddr: peer,
      upgrade: (options) => {
        const result = Deno.upgradeWebSocket(parsed, { ...options, socket, head: rest });
        upgraded = result.response;
        // Deno owns the connection now; it is over when the WebSocket closes. The node
        // socket left behind must not keep the process alive after that.
        result.socket.addEventListener("close", () => {
          this.#visitors.delete(visitor);
          socket.unref();
        });
        return result;
      },
    };
    const response = await this.#options.handler(parsed, info);
    if (upgraded !== undefined && response === upgraded) return;
    writeResponse(socket, response);
  }
}

/** A plain-text response. */
function plain(status: number, text: string): Response {
  return new Response(text, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

/**
 * The request in a head (request line and headers), or why it cannot be served. Only
 * GET and HEAD without a body: the gateway has no other endpoint.
 */
export function parseHead(head: string): Request | string {
  const [line, ...fields] = head.split("\r\n");
  const match = /^([A-Z]+) (\/\S*) HTTP\/1\.[01]$/.exec(line);
  if (!match) return "Bad request line";
  const headers = new Headers();
  for (const field of fields) {
    const colon = field.indexOf(":");
    if (colon <= 0) return "Bad header line";
    try {
      headers.append(field.slice(0, colon).trim(), field.slice(colon + 1).trim());
    } catch {
      return "Bad header line";
    }
  }
  const [, method, target] = match;
  if (method !== "GET" && method !== "HEAD") return `Method ${method} is not served here`;
  if (headers.has("transfer-encoding") || Number(headers.get("content-length") ?? 0) > 0) {
    return "A request body is not accepted here";
  }
  const host = headers.get("host") ?? "localhost";
  try {
    return new Request(new URL(target, `http://${host}`), { method, headers });
  } catch {
    return "Bad Host header or request target";
  }
}

/** Writes a response and closes the connection (no keep-alive: the gateway has no need). */
function writeResponse(socket: net.Socket, response: Response): void {
  response.arrayBuffer().then((body) => {
    const lines = [`HTTP/1.1 ${response.status} ${response.statusText || reason(response.status)}`];
    response.headers.forEach((value, name) => lines.push(`${name}: ${value}`));
    lines.push(`content-length: ${body.byteLength}`, "connection: close", "", "");
    socket.resume();
    socket.end(Buffer.concat([Buffer.from(lines.join("\r\n"), "latin1"), Buffer.from(body)]));
  }, () => socket.destroy());
}

function reason(status: number): string {
  const reasons: Record<number, string> = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
  };
  return reasons[status] ?? "Status";
}
