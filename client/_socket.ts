/**
 * Opening the WebSocket: the agent's URL with token and session, and the open itself.
 *
 * @module
 */
import { handshakeError } from "./_errors.ts";

/** The agent's default port, added when an address names none. */
export const DEFAULT_PORT = 8000;

/**
 * The WebSocket URL of an agent: `ws://`/`wss://` as given, `http(s)://` turned into
 * `ws(s)://`, and a bare `HOST` or `HOST:PORT` read as `ws://HOST:PORT/ws` (port 8000 by
 * default). `token` and `session` become query parameters.
 *
 * @throws {TypeError} for an address that is not a URL or a host.
 */
export function agentUrl(
  address: string,
  options: { token?: string; session?: string } = {},
): string {
  let text = address.trim();
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    const hasPort = /^(\[[^\]]+\]|[^/:]+):\d+/.test(text);
    const slash = text.indexOf("/");
    const host = slash < 0 ? text : text.slice(0, slash);
    const path = slash < 0 ? "/ws" : text.slice(slash);
    text = `ws://${hasPort ? host : `${host}:${DEFAULT_PORT}`}${path}`;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError(`Invalid agent address: ${JSON.stringify(address)} is not a URL or host`);
  }
  if (url.protocol === "http:") url.protocol = "ws:";
  if (url.protocol === "https:") url.protocol = "wss:";
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new TypeError(`Invalid agent address: ${address} is not a ws:// or wss:// URL`);
  }
  if (url.pathname === "") url.pathname = "/ws";
  if (options.token) url.searchParams.set("token", options.token);
  if (options.session) url.searchParams.set("session", options.session);
  return url.href;
}

/**
 * Opens a WebSocket (offering `protocols`, if given) and resolves once it is open.
 *
 * @throws {AgentConnectionError} when it cannot open (`UNREACHABLE`, or the refusal the
 * runtime reports: `UNAUTHORIZED` for HTTP 401, …); the signal's reason when aborted.
 */
export function openSocket(
  url: string,
  options: { signal?: AbortSignal; protocols?: string[] } = {},
): Promise<WebSocket> {
  const { signal } = options;
  signal?.throwIfAborted();
  const socket = new WebSocket(url, options.protocols);
  socket.binaryType = "arraybuffer";
  const opened = Promise.withResolvers<WebSocket>();
  let detail = "";
  let aborted = false;
  // Settled by the close event, so no socket outlives the attempt.
  const onAbort = () => {
    aborted = true;
    socket.close();
  };
  socket.onopen = () => opened.resolve(socket);
  socket.onerror = (event) => {
    detail = (event as ErrorEvent).message ?? "";
  };
  socket.onclose = (event) => {
    opened.reject(
      aborted
        ? signal?.reason
        : handshakeError(url, detail || event.reason || `close code ${event.code}`),
    );
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  return opened.promise.finally(() => {
    signal?.removeEventListener("abort", onAbort);
    socket.onopen = null;
    socket.onerror = null;
    socket.onclose = null;
  });
}

/** `bytes` random bytes as hex: session ids, id prefixes. */
export function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Resolves after `ms`, or rejects with the signal's reason. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
