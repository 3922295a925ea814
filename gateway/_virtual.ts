/**
 * A client connection without a WebSocket: what the fleet mode (commands over NATS)
 * uses to run commands through the same table, lease and roles as a WebSocket client.
 *
 * @module
 */

/** Where a virtual connection's outgoing messages go. */
export interface VirtualPeer {
  /** One message for the client, as the JSON text a WebSocket client would receive. */
  send(text: string): void;
  /** The gateway closed the connection (taken over, shutdown); `code` as for a WebSocket. */
  onClose?(code: number, reason: string): void;
}

/**
 * Stands in for the WebSocket a {@linkcode Connection} wraps: what it sends goes to the
 * peer; it never falls behind (the peer buffers, or drops, on its side).
 */
export class VirtualSocket {
  #peer: VirtualPeer;
  readyState: number = WebSocket.OPEN;
  readonly bufferedAmount = 0;
  binaryType = "arraybuffer";
  onmessage: ((event: { data: string | ArrayBuffer }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;
  onopen: (() => void) | null = null;

  /** Wraps a peer. */
  constructor(peer: VirtualPeer) {
    this.#peer = peer;
  }

  /** Sends to the peer. */
  send(text: string): void {
    if (this.readyState === WebSocket.OPEN) this.#peer.send(text);
  }

  /** Closes: the gateway forgets the connection; the peer is told. */
  close(code = 1000, reason = ""): void {
    if (this.readyState !== WebSocket.OPEN) return;
    this.readyState = WebSocket.CLOSED;
    this.#peer.onClose?.(code, reason);
    queueMicrotask(() => this.onclose?.({ code, reason }));
  }

  /** A message from the peer, as if it came over a WebSocket. */
  receive(data: string | ArrayBuffer): void {
    if (this.readyState === WebSocket.OPEN) this.onmessage?.({ data });
  }

  /** This stand-in as the type the gateway takes. */
  get asWebSocket(): WebSocket {
    return this as unknown as WebSocket;
  }
}
