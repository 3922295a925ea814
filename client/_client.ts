/**
 * {@linkcode RobotClient}: one connection to an agent, requests matched to replies by id,
 * calls to their callbacks, events dispatched, and the link resumed after it drops.
 *
 * @module
 */
import { AgentConnectionError, AgentRequestError, displayUrl } from "./_errors.ts";
import {
  ConnectionEvent,
  type EventIteratorOptions,
  iterateEvents,
  RobotEvent,
} from "./_events.ts";
import { ReplyRouter } from "./_router.ts";
import { agentUrl, openSocket, randomHex, sleep } from "./_socket.ts";
import type {
  AgentStatus,
  CallOutcome,
  ClientId,
  ReplyData,
  RequestParams,
  RollbackResult,
  ServerMessage,
  StartResult,
} from "./_types.ts";
import { type DeployOutcome, type UploadOptions, uploadZip } from "./_upload.ts";

/** How a dropped connection is resumed. */
export interface ReconnectOptions {
  /** The wait before the first attempt (250 ms); it doubles after each failure. */
  firstDelayMs?: number;
  /** The longest wait between attempts (5 s). */
  maxDelayMs?: number;
  /**
   * How long to keep trying (30 s): longer than the agent's idle timeout (15 s), after
   * which it frees the slot of a connection that went silent.
   */
  giveUpAfterMs?: number;
}

/** Options for {@linkcode RobotClient.connect}. */
export interface ConnectOptions {
  /** The access token, sent as `?token=` (or as a subprotocol, see `tokenVia`). */
  token?: string;
  /**
   * Where the token goes: `"query"` (`?token=`, the default) or `"subprotocol"`
   * (`bearer.TOKEN` beside `robot-agent`), which keeps it out of URLs: what a browser
   * page should use.
   */
  tokenVia?: "query" | "subprotocol";
  /**
   * The session id (`?session=`): results that complete while the link is down are kept
   * for it and delivered on reconnect. A random one by default; `false` for none.
   */
  session?: string | false;
  /** Whether (and how) to reconnect after the link drops; on by default. */
  reconnect?: boolean | ReconnectOptions;
  /** How long one connection attempt may take, handshake included (10 s). */
  timeoutMs?: number;
  /** Gives up connecting when aborted. */
  signal?: AbortSignal;
}

/** Options for a request. */
export interface RequestOptions {
  /** Stops waiting for the reply when aborted (a call is also cancelled). */
  signal?: AbortSignal;
  /** The request's id; a fresh one by default. */
  id?: ClientId;
}

/** Where the connection stands. */
export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

const RECONNECT_DEFAULTS: Required<ReconnectOptions> = {
  firstDelayMs: 250,
  maxDelayMs: 5000,
  giveUpAfterMs: 30_000,
};

/** Close code the agent refuses a second client with. */
const CLOSE_BUSY = 4001;
/** Close code for a controller another operator took over from: not resumed. */
const CLOSE_TAKEN_OVER = 4003;

/**
 * A connection to one robot agent.
 *
 * Every request gets an id and resolves with its reply's `data`, or rejects with an
 * {@linkcode AgentRequestError} carrying the agent's code. {@linkcode call} waits for the
 * call's callback. Events come as {@linkcode RobotEvent}s (type `"event"`) or through
 * {@linkcode events}. When the link drops, the client reconnects with back-off under the
 * same session: requests sent meanwhile wait, and replies the agent kept for the session
 * arrive on reconnect (a request the agent never received is not answered: give long
 * requests a signal).
 *
 * @example
 * ```ts
 * await using robot = await RobotClient.connect("ws://go2:8000/ws", { token });
 * await robot.call("sport_client", "StandUp");
 * ```
 */
export class RobotClient extends EventTarget implements AsyncDisposable {
  #url: string;
  #protocols: string[] | undefined;
  #session: string | undefined;
  #reconnect: Required<ReconnectOptions> | undefined;
  #timeoutMs: number;
  #state: ConnectionState = "connecting";
  #socket: WebSocket | undefined;
  #socketClosed: Promise<unknown> = Promise.resolve();
  #reconnecting: Promise<void> = Promise.resolve();
  #outbox: { text: string; signal?: AbortSignal }[] = [];
  #router = new ReplyRouter();
  #idPrefix = randomHex(3);
  #ids = 0;
  #closing = new AbortController();
  #failure: AgentConnectionError | undefined;
  /** The current socket's refusal (`BUSY`), which explains the close that follows. */
  #refusal: ServerMessage | undefined;
  #agentVersion: string | undefined;

  private constructor(url: string, session: string | undefined, options: ConnectOptions) {
    super();
    this.#url = url;
    this.#protocols = options.tokenVia === "subprotocol" && options.token
      ? ["robot-agent", `bearer.${options.token}`]
      : undefined;
    this.#session = session;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    const reconnect = options.reconnect ?? true;
    this.#reconnect = reconnect === false
      ? undefined
      : { ...RECONNECT_DEFAULTS, ...(reconnect === true ? {} : reconnect) };
  }

  /**
   * Connects to the agent at `address` (a `ws://` URL, or `HOST[:PORT]`) and resolves once
   * the agent has accepted the connection.
   *
   * @throws {AgentConnectionError} `UNREACHABLE`, `UNAUTHORIZED`, `BUSY`, …
   */
  static async connect(address: string, options: ConnectOptions = {}): Promise<RobotClient> {
    const session = options.session === false ? undefined : options.session ?? randomHex(12);
    const token = options.tokenVia === "subprotocol" ? undefined : options.token;
    const url = agentUrl(address, { token, session });
    const client = new RobotClient(url, session, options);
    try {
      await client.#establish(options.signal);
    } catch (error) {
      client.#state = "closed";
      throw error;
    }
    return client;
  }

  /** The agent's URL, with the token hidden and without the session. */
  get url(): string {
    return displayUrl(this.#url);
  }

  /** The session id, if any. */
  get session(): string | undefined {
    return this.#session;
  }

  /** Where the connection stands. */
  get state(): ConnectionState {
    return this.#state;
  }

  /** The agent's version, as it said when the connection was made. */
  get agentVersion(): string | undefined {
    return this.#agentVersion;
  }

  /** A fresh request id, unique to this client. */
  nextId(prefix = "r"): string {
    return `${prefix}-${this.#idPrefix}-${++this.#ids}`;
  }

  /**
   * Sends `command` with `params` and resolves with its reply's `data`. Commands the
   * client has no method for yet are sent the same way.
   *
   * @throws {AgentRequestError} when the agent answers an error.
   * @throws {AgentConnectionError} when the connection ends for good first.
   */
  async request<K extends string>(
    command: K,
    params?: RequestParams<K>,
    options: RequestOptions = {},
  ): Promise<ReplyData<K>> {
    options.signal?.throwIfAborted();
    const id = options.id ?? this.nextId();
    const reply = this.nextReply(id, { signal: options.signal });
    this.#send(JSON.stringify({ command, id, params: params ?? {} }), options.signal);
    const message = await reply;
    if (message.status === "error") throw AgentRequestError.fromReply(message, command);
    return message.data as ReplyData<K>;
  }

  /**
   * Resolves with the next reply (not a callback) that carries `id`, success or error, as
   * the agent sent it. The waiter is registered at once, so a second waiter for the same
   * id gets the second reply (an upload's outcome, after `upload_begin`'s first).
   */
  nextReply(id: ClientId, options: { signal?: AbortSignal } = {}): Promise<ServerMessage> {
    return this.#router.reply(id, options.signal);
  }

  /**
   * Calls `object.method(**args)` in the running project and resolves with its result.
   * Aborting the signal cancels the call in the agent.
   *
   * @throws {AgentRequestError} for a refused call (`UNKNOWN_METHOD`, `NOT_STARTED`, …)
   * and for a failed one (`EXCEPTION`, `BAD_ARGS`, `TIMEOUT`, …; `data` holds the
   * callback's error: `type`, `traceback`).
   */
  async call(
    object: string,
    method: string,
    args: Record<string, unknown> = {},
    options: RequestOptions = {},
  ): Promise<unknown> {
    const { signal } = options;
    signal?.throwIfAborted();
    const id = options.id ?? this.nextId("call");
    const untilDone = new AbortController();
    const callback = this.#router.callback(id, untilDone.signal);
    callback.catch(() => {});
    const cancel = () => {
      untilDone.abort(signal?.reason);
      this.request("cancel", { call_id: id }).catch(() => {});
    };
    signal?.addEventListener("abort", cancel, { once: true });
    try {
      await this.request("process", { object, method, args }, { id, signal: untilDone.signal });
      const outcome = (await callback).data as CallOutcome;
      if (outcome.ok) return outcome.result;
      const error = outcome.error ?? { code: "INTERNAL", message: "Call failed" };
      throw new AgentRequestError(error.code, error.message, { command: "process", data: error });
    } catch (error) {
      signal?.throwIfAborted();
      throw error;
    } finally {
      signal?.removeEventListener("abort", cancel);
      untilDone.abort();
    }
  }

  /** Starts the current project; resolves with its objects and methods. */
  start(options: RequestOptions = {}): Promise<StartResult> {
    return this.request("start", {}, options);
  }

  /** The agent's, worker's and project's state. */
  status(options: RequestOptions = {}): Promise<AgentStatus> {
    return this.request("status", {}, options);
  }

  /** Makes the previous version current and starts it. */
  rollback(options: RequestOptions = {}): Promise<RollbackResult> {
    return this.request("rollback", {}, options);
  }

  /** Asks the agent to cancel the call with id `callId`. */
  async cancel(callId: ClientId, options: RequestOptions = {}): Promise<void> {
    await this.request("cancel", { call_id: callId }, options);
  }

  /**
   * Deploys a project zip through the chunked upload: resumes where the agent stands,
   * across dropped links, and reports progress. Resolves with the new version.
   */
  deploy(zip: Uint8Array, options: UploadOptions = {}): Promise<DeployOutcome> {
    return uploadZip(this, zip, options);
  }

  /**
   * Sends a binary message now.
   *
   * @throws {AgentConnectionError} when the connection is not open (binary messages are
   * not queued: an upload resumes by asking the agent where it stands).
   */
  sendBinary(bytes: Uint8Array): void {
    if (this.#state !== "open" || !this.#socket) {
      throw this.#failure ??
        new AgentConnectionError("CONNECTION_LOST", "Cannot send: the connection is down");
    }
    this.#socket.send(bytes);
  }

  /** Resolves when the connection is open (at once, or after a reconnect). */
  ready(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.#state === "open") return Promise.resolve();
    if (this.#state === "closed") return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const done = () => {
        this.removeEventListener("reconnect", done);
        this.removeEventListener("close", done);
        options.signal?.removeEventListener("abort", done);
        if (this.#state === "open") resolve();
        else reject(options.signal?.aborted ? options.signal.reason : this.#failure);
      };
      this.addEventListener("reconnect", done);
      this.addEventListener("close", done);
      options.signal?.addEventListener("abort", done);
    });
  }

  /**
   * The agent's events from this call on, as an async iterator; it ends when the client
   * closes, the signal aborts, or the loop breaks.
   */
  events(options: EventIteratorOptions = {}): AsyncIterableIterator<RobotEvent> {
    return iterateEvents(this, options);
  }

  /** Closes the connection; waiting requests reject with `CLOSED`. */
  async close(): Promise<void> {
    if (this.#state !== "closed") {
      const error = new AgentConnectionError("CLOSED", "Connection closed by the client");
      this.#closing.abort(error);
      this.#fail(error, { byClient: true });
    }
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket && socket.readyState < WebSocket.CLOSING) socket.close(1000);
    await Promise.all([this.#socketClosed, this.#reconnecting]);
  }

  /** Closes the connection. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #send(text: string, signal?: AbortSignal): void {
    if (this.#state === "open" && this.#socket) this.#socket.send(text);
    else if (this.#state !== "closed") this.#outbox.push({ text, signal });
  }

  #flush(): void {
    const queued = this.#outbox;
    this.#outbox = [];
    for (const { text, signal } of queued) if (!signal?.aborted) this.#send(text);
  }

  /** Opens a socket and has the agent accept it; the connection is then open. */
  async #establish(signal?: AbortSignal): Promise<void> {
    const attempt = new AbortController();
    const timer = setTimeout(() => {
      const message = `Cannot connect to ${this.url}: no answer within ${this.#timeoutMs} ms`;
      attempt.abort(new AgentConnectionError("UNREACHABLE", message));
    }, this.#timeoutMs);
    const stop = () => attempt.abort(signal?.reason ?? this.#closing.signal.reason);
    signal?.addEventListener("abort", stop);
    this.#closing.signal.addEventListener("abort", stop);
    try {
      if (signal?.aborted || this.#closing.signal.aborted) stop();
      const socket = await openSocket(this.#url, {
        signal: attempt.signal,
        protocols: this.#protocols,
      });
      const closed = this.#attach(socket);
      try {
        await this.#handshake(closed, attempt.signal);
      } catch (error) {
        if (socket.readyState < WebSocket.CLOSING) socket.close(1000);
        await closed;
        throw error;
      }
      this.#state = "open";
      // `?takeover=1` was for the first connection: a resumed one finds its slot kept.
      this.#url = this.#url.replace(/([?&])takeover=[^&#]*&?/, "$1").replace(/[?&]$/, "");
      this.#flush();
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", stop);
      this.#closing.signal.removeEventListener("abort", stop);
    }
  }

  /**
   * Takes the socket as the current one. Its messages are routed at once: a resumed
   * session's kept replies arrive before the handshake's.
   */
  #attach(socket: WebSocket): Promise<CloseEvent> {
    this.#socket = socket;
    this.#refusal = undefined;
    const closed = Promise.withResolvers<CloseEvent>();
    socket.onmessage = (event) => {
      if (socket === this.#socket) this.#onMessage(event.data);
    };
    socket.onerror = () => {};
    socket.onclose = (event) => {
      closed.resolve(event);
      this.#onClose(socket, event);
    };
    this.#socketClosed = closed.promise;
    return closed.promise;
  }

  /**
   * Proves the agent accepted the socket: a refused one is answered `BUSY` and closed,
   * and runs nothing. `status` is answered by every agent, whatever its project does.
   */
  async #handshake(closed: Promise<CloseEvent>, signal: AbortSignal): Promise<void> {
    const id = this.nextId("hello");
    const reply = this.nextReply(id, { signal });
    this.#socket?.send(JSON.stringify({ command: "status", id }));
    const ended = closed.then((event) => {
      throw this.#closeError(event);
    });
    ended.catch(() => {});
    reply.catch(() => {});
    const message = await Promise.race([reply, ended]);
    const status = message.data as Partial<AgentStatus> | undefined;
    this.#agentVersion = status?.agent?.version;
  }

  #onMessage(raw: unknown): void {
    if (typeof raw !== "string") return;
    let message: ServerMessage;
    try {
      message = JSON.parse(raw);
    } catch {
      return;
    }
    if (message.status === "callback" && typeof message.event === "string") {
      this.dispatchEvent(new RobotEvent(message.event, message.data));
    } else if (this.#router.route(message) || message.status === "callback") {
      return;
    } else if (message.status === "error" && message.code === "BUSY") {
      this.#refusal = message;
    } else {
      this.dispatchEvent(new MessageEvent("unmatched", { data: message }));
    }
  }

  #closeError(event: CloseEvent): AgentConnectionError {
    const closeCode = event.code;
    if (this.#refusal || closeCode === CLOSE_BUSY) {
      const message = this.#refusal?.message ?? "Connection refused: another client is connected";
      return new AgentConnectionError("BUSY", message, { closeCode });
    }
    const why = event.reason ? `: ${event.reason}` : "";
    return new AgentConnectionError(
      "CLOSED",
      `Connection closed by the agent (close code ${closeCode}${why})`,
      { closeCode },
    );
  }

  #onClose(socket: WebSocket, event: CloseEvent): void {
    if (socket !== this.#socket) return;
    this.#socket = undefined;
    if (this.#state !== "open") return;
    const error = this.#closeError(event);
    if (!this.#reconnect || event.code === CLOSE_TAKEN_OVER) {
      this.#fail(error);
      return;
    }
    this.#state = "reconnecting";
    this.dispatchEvent(new ConnectionEvent("disconnect", error));
    this.#reconnecting = this.#reconnectLoop(this.#reconnect, error);
  }

  async #reconnectLoop(options: Required<ReconnectOptions>, first: Error): Promise<void> {
    const deadline = Date.now() + options.giveUpAfterMs;
    let wait = options.firstDelayMs;
    let last: unknown = first;
    while (this.#state === "reconnecting") {
      try {
        await sleep(wait, this.#closing.signal);
        await this.#establish();
        this.dispatchEvent(new ConnectionEvent("reconnect"));
        return;
      } catch (error) {
        if (this.#state !== "reconnecting") return;
        last = error;
      }
      if (Date.now() + wait >= deadline) break;
      wait = Math.min(wait * 2, options.maxDelayMs);
    }
    const why = last instanceof Error ? last.message : String(last);
    this.#fail(
      new AgentConnectionError(
        "CONNECTION_LOST",
        `Connection lost: ${why} (gave up reconnecting after ${options.giveUpAfterMs / 1000} s)`,
        { cause: last },
      ),
    );
  }

  /** Ends the client for good: every waiter rejects with `error`. */
  #fail(error: AgentConnectionError, options: { byClient?: boolean } = {}): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    this.#failure = error;
    this.#outbox = [];
    this.#router.fail(error);
    this.dispatchEvent(new ConnectionEvent("close", options.byClient ? undefined : error));
  }
}
