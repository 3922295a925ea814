/**
 * The TLS door: `wss://` in front of the front door. Deno upgrades a WebSocket only on a
 * plain TCP socket of its own, so TLS is ended here and each connection is passed, in
 * this process, to the plain front door listening on loopback, after a first line that
 * names the client (with a secret only this process knows, so nothing else on the machine
 * can claim to be a client it is not).
 *
 * Connections are capped here as at the plain door: in all (each costs three descriptors
 * here), unfinished ones in all and per address, and the TLS handshake must finish within
 * the header timeout.
 *
 * @module
 */
import net from "node:net";
import tls from "node:tls";
import { logger } from "../log.ts";
import { openFileLimit, type PeerAddress, peerPreamble } from "./_front_door.ts";

const log = logger("gateway", "tls");

const FD_RESERVE = 64;
const LOG_EVERY_MS = 10_000;

/** Options for {@linkcode TlsDoor}. */
export interface TlsDoorOptions {
  hostname: string;
  port: number;
  cert: string;
  key: string;
  /** The plain front door on loopback that gets each connection. */
  innerPort: number;
  /** The secret of the first line (the plain door's `preambleSecret`). */
  secret: string;
  headerTimeoutS: number;
  maxConnections: number;
  maxPending: number;
  maxPendingPerAddress: number;
}

/** Listens for TLS and relays each connection to the plain front door. */
export class TlsDoor implements AsyncDisposable {
  #options: TlsDoorOptions;
  #server: tls.Server | undefined;
  #open = 0;
  #pending = new Map<string, number>();
  #pendingTotal = 0;
  /** Per unfinished connection (`address:port`), what ends its counting as unfinished. */
  #unfinished = new Map<string, () => void>();
  #maxConnections: number;
  #loggedAt = 0;

  /** Creates the door; {@linkcode listen} opens it. */
  constructor(options: TlsDoorOptions) {
    this.#options = options;
    const limit = openFileLimit();
    this.#maxConnections = limit === undefined
      ? options.maxConnections
      : Math.max(2, Math.min(options.maxConnections, Math.floor((limit - FD_RESERVE) / 3)));
  }

  /** Listens; resolves with the bound address. */
  listen(): Promise<PeerAddress> {
    const server = tls.createServer({
      cert: this.#options.cert,
      key: this.#options.key,
      handshakeTimeout: this.#options.headerTimeoutS * 1000,
    }, (socket) => this.#relay(socket));
    server.on("connection", (raw: net.Socket) => this.#count(raw));
    server.on("tlsClientError", () => {});
    this.#server = server;
    const { promise, resolve, reject } = Promise.withResolvers<PeerAddress>();
    server.once("error", reject);
    server.listen(this.#options.port, this.#options.hostname, () => {
      server.off("error", reject);
      server.on(
        "error",
        (error) => log.error("TLS listener failed: {error}", { error: String(error) }),
      );
      const address = server.address() as net.AddressInfo;
      resolve({ hostname: address.address, port: address.port });
    });
    return promise;
  }

  /** Stops listening. */
  close(): Promise<void> {
    this.#server?.close();
    this.#server = undefined;
    return Promise.resolve();
  }

  /** Closes the door. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #refuse(raw: net.Socket, why: string): void {
    const now = Date.now();
    if (now - this.#loggedAt > LOG_EVERY_MS) {
      this.#loggedAt = now;
      log.warn("Refusing TLS connections: {why}", { why });
    }
    raw.destroy();
  }

  /** Counts a raw connection before its TLS handshake, refusing it past the caps. */
  #count(raw: net.Socket): void {
    const address = raw.remoteAddress ?? "?";
    const fromPeer = this.#pending.get(address) ?? 0;
    if (this.#open >= this.#maxConnections) return this.#refuse(raw, `${this.#open} open`);
    if (this.#pendingTotal >= this.#options.maxPending) {
      return this.#refuse(raw, "too many unfinished");
    }
    if (fromPeer >= this.#options.maxPendingPerAddress) {
      return this.#refuse(raw, `too many unfinished from ${address}`);
    }
    this.#open++;
    this.#pendingTotal++;
    this.#pending.set(address, fromPeer + 1);
    const key = `${address}:${raw.remotePort}`;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      this.#unfinished.delete(key);
      this.#pendingTotal--;
      const left = (this.#pending.get(address) ?? 1) - 1;
      if (left > 0) this.#pending.set(address, left);
      else this.#pending.delete(address);
    };
    this.#unfinished.set(key, settle);
    raw.on("error", () => {});
    raw.once("close", () => {
      settle();
      this.#open--;
    });
  }

  /** Relays a connection whose handshake is done to the plain door. */
  #relay(socket: tls.TLSSocket): void {
    const peer = { hostname: socket.remoteAddress ?? "?", port: socket.remotePort ?? 0 };
    // The handshake is over: the connection is no longer unfinished here (the plain door
    // times its request from now on).
    this.#unfinished.get(`${peer.hostname}:${peer.port}`)?.();
    socket.setNoDelay(true);
    const inner = net.connect({ host: "127.0.0.1", port: this.#options.innerPort, noDelay: true });
    inner.write(peerPreamble(this.#options.secret, peer));
    socket.pipe(inner);
    inner.pipe(socket);
    const end = () => {
      socket.destroy();
      inner.destroy();
    };
    socket.on("error", end);
    inner.on("error", end);
    socket.on("close", end);
    inner.on("close", end);
  }
}
