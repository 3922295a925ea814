/**
 * The console's one connection to the agent it was served by: sign-in with a token
 * (offered as a subprotocol, so it is never in a URL), the connection's state as the
 * header shows it, the e-stop, and what the views share (status, objects, the feed).
 *
 * The token and the session id live in the tab's `sessionStorage`: a reload resumes the
 * session (results that completed meanwhile arrive), closing the tab forgets both.
 *
 * @module
 */
import {
  AgentConnectionError,
  AgentRequestError,
  type AgentStatus,
  type ConnectionEvent,
  RobotClient,
  type RobotEvent,
  type StartResult,
} from "../client/mod.ts";
import { EventFeed } from "./_feed.ts";
import { fromDescribe, fromStart, type ObjectInfo } from "./_methods.ts";
import { Store } from "./_store.ts";

/** Where the connection stands, as the header shows it. */
export type LinkState =
  | "signed-out"
  | "connecting"
  | "connected"
  | "reconnecting"
  | "taken-over"
  | "closed";

/** How to join: as the controller, as an observer, or taking control from another. */
export type JoinMode = "control" | "observe" | "takeover";

/** The e-stop as `status` and the `estop` event tell it. */
export interface EstopInfo {
  by?: string;
  reason?: string;
  at?: string;
}

/** What the views share. */
export interface SessionState {
  link: LinkState;
  role?: "controller" | "observer";
  identity?: string;
  session?: string;
  /** The session was resumed after the link dropped at least once. */
  resumed: boolean;
  /** Why the last sign-in failed, or why the connection ended. */
  notice?: string;
  /** The last sign-in was refused because another client is in control. */
  busy: boolean;
  status?: AgentStatus;
  estop: EstopInfo | null;
  objects: ObjectInfo[];
  /** Where `objects` came from: `describe`, or the last `start` this console made. */
  objectsFrom?: "describe" | "start";
  /** Commands this agent answered `UNKNOWN_COMMAND`: their views degrade. */
  unsupported: string[];
}

const TOKEN_KEY = "robot-agent.token";
const SESSION_KEY = "robot-agent.session";
const CLOSE_TAKEN_OVER = 4003;

function randomSession(): string {
  return [...crypto.getRandomValues(new Uint8Array(12))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The token from `#token=…` (then taken out of the address bar), or the tab's saved one. */
export function savedToken(): string | undefined {
  const fromHash = /(?:^#|&)token=([^&]+)/.exec(location.hash)?.[1];
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(fromHash));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

/**
 * Why a handshake failed. A browser's WebSocket hides the HTTP status of a refusal, so
 * the console asks the agent (`GET /ws` with the token) to say it again.
 */
async function explain(error: unknown, token: string): Promise<{ text: string; bad: boolean }> {
  if (!(error instanceof AgentConnectionError) || error.code !== "UNREACHABLE") {
    return { text: error instanceof Error ? error.message : String(error), bad: false };
  }
  let response: Response;
  try {
    response = await fetch("/ws", {
      headers: { authorization: `Bearer ${token}` },
      cache: "no-store",
    });
  } catch {
    return {
      text: "The agent is unreachable: is it running, and is this the robot's Wi-Fi?",
      bad: false,
    };
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 401) {
    return { text: "Wrong token: the agent does not know it (rotated or revoked?)", bad: true };
  }
  if (response.ok) return { text: `The connection failed: ${error.message}`, bad: false };
  return { text: String(body.message ?? `The agent refused: HTTP ${response.status}`), bad: false };
}

/** The console's connection and the state every view reads. */
export class ConsoleSession {
  readonly state: Store<SessionState> = new Store<SessionState>({
    link: "signed-out",
    resumed: false,
    busy: false,
    estop: null,
    objects: [],
    unsupported: [],
  });
  readonly feed: EventFeed = new EventFeed();
  #robot: RobotClient | undefined;
  #token: string | undefined;

  /** The client, while connected (or reconnecting). */
  get robot(): RobotClient | undefined {
    return this.#robot;
  }

  /** Whether this connection may deploy, start and call. */
  get controls(): boolean {
    const { link, role } = this.state.value;
    return link === "connected" && role === "controller";
  }

  /** Connects with `token`; the state says how it went. */
  async connect(token: string, mode: JoinMode = "control"): Promise<void> {
    await this.#drop();
    this.state.set({ link: "connecting", notice: undefined, busy: false, resumed: false });
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = mode === "observe" ? "?observe=1" : mode === "takeover" ? "?takeover=1" : "";
    const session = sessionStorage.getItem(SESSION_KEY) ?? randomSession();
    let robot: RobotClient;
    try {
      robot = await RobotClient.connect(`${scheme}://${location.host}/ws${query}`, {
        token,
        tokenVia: "subprotocol",
        session,
      });
    } catch (error) {
      const busy = error instanceof AgentConnectionError && error.code === "BUSY";
      const { text, bad } = await explain(error, token);
      if (bad) sessionStorage.removeItem(TOKEN_KEY);
      this.state.set({ link: "signed-out", notice: text, busy });
      if (busy) this.#token = token;
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(SESSION_KEY, session);
    this.#token = token;
    this.#robot = robot;
    this.#listen(robot);
    this.state.set({ link: "connected", session });
    await this.refresh();
    await Promise.all([this.loadObjects(), this.#followLogs()]);
  }

  /** Joins again after a refusal or an end, with the token given last. */
  rejoin(mode: JoinMode): Promise<void> {
    return this.#token ? this.connect(this.#token, mode) : Promise.resolve();
  }

  /** Closes the connection and forgets the token and the session. */
  async signOut(): Promise<void> {
    await this.#drop();
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(SESSION_KEY);
    this.#token = undefined;
    this.state.set({ link: "signed-out", notice: undefined, busy: false, status: undefined });
  }

  /** Sends `command`; an `UNKNOWN_COMMAND` answer marks it unsupported (and still throws). */
  async request(command: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const robot = this.#robot;
    if (!robot) throw new AgentConnectionError("CLOSED", "Not connected");
    try {
      return await robot.request(command, params);
    } catch (error) {
      if (error instanceof AgentRequestError && error.code === "UNKNOWN_COMMAND") {
        const { unsupported } = this.state.value;
        if (!unsupported.includes(command)) {
          this.state.set({ unsupported: [...unsupported, command] });
        }
      }
      throw error;
    }
  }

  /** Whether the agent has `command` (true until it says otherwise). */
  supports(command: string): boolean {
    return !this.state.value.unsupported.includes(command);
  }

  /** Reads `status` into the state. */
  async refresh(): Promise<void> {
    const robot = this.#robot;
    if (!robot || robot.state !== "open") return;
    try {
      const status = await robot.status();
      const gateway = (status.gateway ?? {}) as Record<string, unknown>;
      const you = gateway.you as
        | { identity?: string; role?: "controller" | "observer" }
        | undefined;
      this.feed.setDropped(Number(gateway.dropped_events ?? 0));
      this.state.set({
        status,
        role: you?.role,
        identity: you?.identity,
        estop: (gateway.estop as EstopInfo | null | undefined) ?? null,
      });
    } catch {
      // The header shows the link's state; the next refresh tries again.
    }
  }

  /** The project's objects from `describe`, when the agent has it. */
  async loadObjects(): Promise<void> {
    if (!this.supports("describe")) return;
    try {
      const objects = fromDescribe(await this.request("describe"));
      this.state.set({ objects, objectsFrom: "describe" });
    } catch {
      if (this.state.value.objectsFrom === "describe") this.state.set({ objects: [] });
    }
  }

  /** Takes the objects a `start` (or `rollback`, `activate`) reported. */
  async started(result: StartResult): Promise<void> {
    if (!this.supports("describe")) {
      this.state.set({ objects: fromStart(result.objects), objectsFrom: "start" });
    } else await this.loadObjects();
    await this.refresh();
  }

  /** Presses the e-stop: any connection may. */
  async estop(): Promise<void> {
    await this.request("estop", { reason: "pressed in the web console" });
    await this.refresh();
  }

  /** Releases the e-stop (the controller only). */
  async release(): Promise<void> {
    await this.request("estop_release");
    await this.refresh();
  }

  async #followLogs(): Promise<void> {
    if (!this.supports("logs")) return;
    try {
      const data = await this.request("logs", { follow: true, lines: 200 }) as Record<
        string,
        unknown
      >;
      const records = data?.entries;
      if (Array.isArray(records)) this.feed.addLogs(records);
      this.feed.state.set({ logs: "following" });
    } catch {
      this.feed.state.set({ logs: this.supports("logs") ? "unknown" : "unavailable" });
    }
  }

  #listen(robot: RobotClient): void {
    robot.addEventListener("event", (event) => {
      const { name, data } = event as RobotEvent;
      this.feed.addEvent(name, data);
      if (name === "estop") this.state.set({ estop: data as EstopInfo });
      if (name === "estop_released") this.state.set({ estop: null });
      if (["project_exited", "rolled_back", "worker_restarted"].includes(name)) {
        void this.refresh();
        void this.loadObjects();
      }
    });
    robot.addEventListener("disconnect", () => {
      if (robot === this.#robot) this.state.set({ link: "reconnecting" });
    });
    robot.addEventListener("reconnect", () => {
      if (robot !== this.#robot) return;
      this.state.set({ link: "connected", resumed: true });
      // A request the link lost on its way is never answered: ask again.
      void this.refresh();
      void this.loadObjects();
      void this.#followLogs();
    });
    robot.addEventListener("close", (event) => {
      if (robot !== this.#robot) return;
      this.#robot = undefined;
      const error = (event as ConnectionEvent).error;
      if (!error) return;
      const takenOver = error instanceof AgentConnectionError &&
        error.closeCode === CLOSE_TAKEN_OVER;
      this.state.set({ link: takenOver ? "taken-over" : "closed", notice: error.message });
    });
  }

  async #drop(): Promise<void> {
    const robot = this.#robot;
    this.#robot = undefined;
    await robot?.close();
  }
}
