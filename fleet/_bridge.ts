/**
 * {@linkcode CommandBridge}: runs fleet commands through the gateway's own command table,
 * lease and roles, on connections without a WebSocket (`WsGateway.openVirtual`).
 *
 * The lease, for fleet commands: the bridge holds at most two connections, opened when
 * first needed. Every command goes first to an **observer** connection (status needs no
 * control); a command the gateway answers `FORBIDDEN` there (it deploys, starts, calls or
 * cancels) is sent again on a **controller** connection, which takes the controller's
 * slot like a local client: refused `BUSY` while a local operator holds it, unless the
 * request asks to take over (then the gateway runs the safety stop first and closes the
 * local client with 4003). The bridge remembers which commands needed control and sends
 * them there at once from then on. A connection is kept while it has requests or calls
 * in flight, and closed after `fleet.control_idle_s` without any: closing the controller
 * runs the safety stop, as when a local client leaves.
 *
 * Replies are matched by the request's `id` (one is given to a request without); ids
 * must be unique among the requests in flight (`DUPLICATE_ID` otherwise), so callers
 * use random ones.
 *
 * @module
 */
import type { Identity, VirtualPeer, VirtualSocket } from "../gateway/mod.ts";
import { logger } from "../log.ts";

const log = logger("fleet", "bridge");

/** A client-chosen id, echoed in replies and callbacks. */
export type ClientId = string | number;

/** One message the gateway sent: its text as is, and its envelope. */
export interface GatewayMessage {
  /** The JSON text, exactly as a WebSocket client would get it. */
  text: string;
  status: "success" | "error" | "callback";
  id?: ClientId;
  event?: string;
  code?: string;
  message?: string;
  data?: unknown;
}

/** Where the messages for one request go. */
export interface Route {
  /** The request's reply. */
  reply(message: GatewayMessage): void;
  /** A later message under its id: a call's callback, an upload's deploy outcome. */
  later(message: GatewayMessage): void;
}

/** What the bridge needs of the gateway: {@linkcode WsGateway.openVirtual}. */
export interface VirtualHost {
  openVirtual(
    peer: VirtualPeer,
    admitted: { identity?: Identity; takeover?: boolean; observe?: boolean; peer?: string },
  ): Promise<VirtualSocket>;
}

/** Options for {@linkcode CommandBridge}. */
export interface BridgeOptions {
  host: VirtualHost;
  /** Seconds without a request or call in flight after which a connection is closed. */
  idleS: number;
  /** Who the fleet's connections are, in the gateway's `status` and log. */
  identity?: Identity;
  /** An event (`push_message`, `project_exited`, …) while a connection is open. */
  onEvent?(message: GatewayMessage): void;
  /** A message under an id no request is waiting for. */
  onOrphan?(message: GatewayMessage): void;
}

/** Options of one request. */
export interface SubmitOptions {
  /** Take the controller's slot from a local operator if needed (the safety stop first). */
  takeover?: boolean;
}

type Role = "observer" | "controller";

/** One request in flight, from its send to its last message. */
interface Entry {
  key: string;
  id: ClientId;
  command: string;
  message: Record<string, unknown>;
  route: Route;
  takeover: boolean;
  /** What comes next: the reply, a call's callback, or an upload's deploy outcome. */
  phase: "reply" | "callback" | "outcome";
  link: Link | undefined;
}

/** One connection of the bridge, reopened as needed. */
class Link {
  readonly role: Role;
  socket: VirtualSocket | undefined;
  opening: Promise<VirtualSocket | GatewayMessage> | undefined;
  openingTakeover = false;
  generation = 0;
  readonly entries = new Set<Entry>();
  timer: ReturnType<typeof setTimeout> | undefined;

  constructor(role: Role) {
    this.role = role;
  }

  /** Whether something keeps it open: a request waiting for its reply, a call running. */
  get busy(): boolean {
    for (const entry of this.entries) if (entry.phase !== "outcome") return true;
    return false;
  }
}

/** Whether opening gave the gateway's refusal rather than a socket. */
function isRefusal(opened: VirtualSocket | GatewayMessage): opened is GatewayMessage {
  return "status" in opened;
}

function keyOf(id: ClientId): string {
  return `${typeof id}:${id}`;
}

/** Reads a gateway message's envelope; undefined for text that is not one. */
export function parseGatewayMessage(text: string): GatewayMessage | undefined {
  try {
    const value = JSON.parse(text);
    if (typeof value !== "object" || value === null || typeof value.status !== "string") {
      return undefined;
    }
    return { ...value, text } as GatewayMessage;
  } catch {
    return undefined;
  }
}

/** An error reply made by the bridge itself, in the gateway's form. */
export function bridgeError(
  code: string,
  message: string,
  id?: ClientId,
  data: unknown = {},
): GatewayMessage {
  const out: Record<string, unknown> = { status: "error", message, data, code };
  if (id !== undefined) out.id = id;
  return { ...(out as Omit<GatewayMessage, "text">), text: JSON.stringify(out) };
}

/** An error callback for a call whose result cannot arrive. */
function lostCallback(entry: Entry, code: string, message: string): GatewayMessage {
  const params = (entry.message.params ?? {}) as { object?: unknown; method?: unknown };
  const out = {
    status: "callback" as const,
    id: entry.id,
    data: {
      object: params.object,
      method: params.method,
      ok: false,
      error: { code, message },
    },
  };
  return { ...out, text: JSON.stringify(out) };
}

/** Runs client messages through the gateway on the fleet's own connections. */
export class CommandBridge {
  #host: VirtualHost;
  #idleMs: number;
  #identity: Identity;
  #onEvent: BridgeOptions["onEvent"];
  #onOrphan: BridgeOptions["onOrphan"];
  #observer = new Link("observer");
  #controller = new Link("controller");
  #entries = new Map<string, Entry>();
  /** Commands the observer connection was refused: sent to the controller from now on. */
  #controlCommands = new Set<string>();
  #ids = 0;
  #closed = false;

  /** Creates the bridge; it opens nothing until the first request. */
  constructor(options: BridgeOptions) {
    this.#host = options.host;
    this.#idleMs = options.idleS * 1000;
    this.#identity = options.identity ?? { name: "fleet", role: "operator" };
    this.#onEvent = options.onEvent;
    this.#onOrphan = options.onOrphan;
  }

  /** Whether the bridge holds the controller's slot now. */
  get controls(): boolean {
    return this.#controller.socket !== undefined;
  }

  /**
   * Sends one client message (a parsed protocol message) and routes every message for its
   * id. A message without an id gets one (`fleet-N`), which its replies carry.
   */
  async submit(
    message: Record<string, unknown>,
    route: Route,
    options: SubmitOptions = {},
  ): Promise<void> {
    const id = (message.id ?? `fleet-${++this.#ids}`) as ClientId;
    message.id = id;
    const command = String(message.command);
    if (this.#closed) {
      route.reply(bridgeError("SHUTTING_DOWN", "Command refused: the fleet link is closing", id));
      return;
    }
    const key = keyOf(id);
    if (this.#entries.has(key)) {
      route.reply(bridgeError(
        "DUPLICATE_ID",
        `Command ${command} refused: id ${JSON.stringify(id)} is in flight already`,
        id,
      ));
      return;
    }
    if (command === "takeover") {
      await this.#takeControl(id, route);
      return;
    }
    const takeover = options.takeover === true;
    const entry: Entry = {
      key,
      id,
      command,
      message,
      route,
      takeover,
      phase: "reply",
      link: undefined,
    };
    this.#entries.set(key, entry);
    const control = takeover || this.#controlCommands.has(command);
    await this.#dispatch(entry, control ? "controller" : "observer");
  }

  /**
   * Sends a message and resolves with its reply; `later` resolves with the next message
   * under its id (a call's callback, an upload's outcome), if one comes.
   */
  request(
    message: Record<string, unknown>,
    options: SubmitOptions = {},
  ): { reply: Promise<GatewayMessage>; later: Promise<GatewayMessage> } {
    const reply = Promise.withResolvers<GatewayMessage>();
    const later = Promise.withResolvers<GatewayMessage>();
    void this.submit(message, { reply: reply.resolve, later: later.resolve }, options);
    return { reply: reply.promise, later: later.promise };
  }

  /** Closes both connections (the controller's close runs the safety stop). */
  close(): void {
    this.#closed = true;
    for (const link of [this.#controller, this.#observer]) {
      clearTimeout(link.timer);
      link.socket?.close(1000, "fleet link closed");
    }
  }

  async #takeControl(id: ClientId, route: Route): Promise<void> {
    const opened = await this.#open(this.#controller, true);
    if (isRefusal(opened)) {
      route.reply(bridgeError(opened.code ?? "BUSY", opened.message ?? "", id, opened.data));
      return;
    }
    this.#arm(this.#controller);
    const out = {
      status: "success",
      message: "You control the robot",
      data: { identity: this.#identity.name },
      id,
    };
    route.reply({ ...out, status: "success", text: JSON.stringify(out) });
  }

  async #dispatch(entry: Entry, role: Role): Promise<void> {
    const link = role === "controller" ? this.#controller : this.#observer;
    const opened = await this.#open(link, entry.takeover);
    if (!this.#entries.has(entry.key)) return;
    if (isRefusal(opened)) {
      // No observer place left (gateway.max_observers): try as the controller.
      if (role === "observer") return await this.#dispatch(entry, "controller");
      this.#finish(entry);
      entry.route.reply(
        bridgeError(opened.code ?? "BUSY", opened.message ?? "refused", entry.id, opened.data),
      );
      return;
    }
    entry.link = link;
    link.entries.add(entry);
    clearTimeout(link.timer);
    opened.receive(JSON.stringify(entry.message));
  }

  /** The link's open socket, opening it if needed; or the gateway's refusal. */
  async #open(link: Link, takeover: boolean): Promise<VirtualSocket | GatewayMessage> {
    if (link.socket) return link.socket;
    if (link.opening) {
      const wasTakeover = link.openingTakeover;
      const opened = await link.opening;
      if (!isRefusal(opened) || !takeover || wasTakeover) return opened;
    }
    link.openingTakeover = takeover;
    link.opening = this.#connect(link, takeover);
    try {
      return await link.opening;
    } finally {
      link.opening = undefined;
    }
  }

  async #connect(link: Link, takeover: boolean): Promise<VirtualSocket | GatewayMessage> {
    const generation = ++link.generation;
    const early: string[] = [];
    let placed = false;
    const peer: VirtualPeer = {
      send: (text) => placed ? this.#onMessage(link, text) : early.push(text),
      onClose: (code, reason) => {
        if (generation === link.generation) this.#onClose(link, code, reason);
      },
    };
    const socket = await this.#host.openVirtual(peer, {
      identity: this.#identity,
      peer: "fleet",
      observe: link.role === "observer",
      takeover: link.role === "controller" && takeover,
    });
    if (socket.readyState !== WebSocket.OPEN) {
      return (early.length > 0 ? parseGatewayMessage(early[0]) : undefined) ??
        bridgeError("BUSY", "Connection refused: another client is connected");
    }
    if (this.#closed) {
      socket.close(1000, "fleet link closed");
      return bridgeError("SHUTTING_DOWN", "Command refused: the fleet link is closing");
    }
    placed = true;
    link.socket = socket;
    log.info("Fleet connection open as {role}", { role: link.role });
    for (const text of early) this.#onMessage(link, text);
    return socket;
  }

  #onMessage(link: Link, text: string): void {
    const message = parseGatewayMessage(text);
    if (!message) return;
    if (message.status === "callback" && message.event !== undefined) {
      // Both connections get every event: the controller's copy counts while it is open.
      if (link.role === "observer" && this.#controller.socket) return;
      this.#onEvent?.(message);
      return;
    }
    const entry = message.id === undefined ? undefined : this.#entries.get(keyOf(message.id));
    if (!entry || entry.link !== link) {
      this.#onOrphan?.(message);
      return;
    }
    if (entry.phase !== "reply") {
      this.#finish(entry);
      entry.route.later(message);
      return;
    }
    if (link.role === "observer" && message.status === "error" && message.code === "FORBIDDEN") {
      this.#controlCommands.add(entry.command);
      link.entries.delete(entry);
      void this.#dispatch(entry, "controller");
      return;
    }
    const data = message.data as { complete?: unknown } | undefined;
    if (message.status === "success" && entry.command === "process") entry.phase = "callback";
    else if (
      message.status === "success" && entry.command === "upload_begin" && data?.complete !== true
    ) entry.phase = "outcome";
    else this.#finish(entry);
    entry.route.reply(message);
  }

  #finish(entry: Entry): void {
    this.#entries.delete(entry.key);
    const link = entry.link;
    if (!link) return;
    link.entries.delete(entry);
    if (!link.busy) this.#arm(link);
  }

  /** Starts the link's idle timer. */
  #arm(link: Link): void {
    clearTimeout(link.timer);
    link.timer = setTimeout(() => {
      link.timer = undefined;
      if (link.busy || !link.socket) return;
      log.info("Fleet connection idle; closing the {role}", { role: link.role });
      link.socket.close(1000, "fleet connection idle");
    }, this.#idleMs);
  }

  #onClose(link: Link, code: number, reason: string): void {
    const was = link.socket !== undefined;
    link.socket = undefined;
    clearTimeout(link.timer);
    link.timer = undefined;
    if (was) {
      log.info("Fleet {role} connection closed ({code} {reason})", {
        role: link.role,
        code,
        reason,
      });
    }
    const [errorCode, why] = code === 4003
      ? ["BUSY", `the fleet connection was ${reason || "taken over"}`]
      : code === 4002
      ? ["SHUTTING_DOWN", "the agent is shutting down"]
      : ["INTERNAL", `the fleet connection closed (${code} ${reason})`];
    for (const entry of [...link.entries]) {
      this.#entries.delete(entry.key);
      link.entries.delete(entry);
      if (entry.phase === "reply") {
        entry.route.reply(
          bridgeError(errorCode, `Command ${entry.command} lost: ${why}`, entry.id),
        );
      } else if (entry.phase === "callback") {
        entry.route.later(lostCallback(entry, errorCode, `Call result lost: ${why}`));
      } else {
        entry.route.later(bridgeError(errorCode, `Upload lost: ${why}`, entry.id));
      }
    }
  }
}
