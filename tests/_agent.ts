/**
 * Test and benchmark support: starts the real agent (`deno task start` equivalent) on a
 * free port with its own storage, and drives it with a real WebSocket client.
 *
 * @module
 */
import { Uint8ArrayReader, Uint8ArrayWriter, ZipWriter } from "@zip.js/zip.js";
import { join } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;

/** Options for {@linkcode startAgent}. */
export interface StartAgentOptions {
  /** Extra command-line arguments. */
  args?: string[];
  /** YAML written to a config file passed with --config. */
  config?: string;
  /** Reuse a storage folder (to restart an agent on the same state). */
  storage?: string;
  /** Show the agent's log on stderr (benchmarks keep it quiet). */
  verbose?: boolean;
  /**
   * The operator token given as `ROBOT_AGENT_TOKEN` (default: a fresh random one; `null`
   * starts the agent without one, as a first start on a robot would be).
   */
  token?: string | null;
  /** More environment for the agent. */
  env?: Record<string, string>;
  /** A program (and its arguments) the agent runs under, e.g. `["prlimit", "--nofile=256"]`. */
  prefix?: string[];
}

/** A running agent process. */
export class Agent {
  readonly child: Deno.ChildProcess;
  readonly storage: string;
  /** The URL a client connects to, with the operator token in it when there is one. */
  readonly url: string;
  readonly port: number;
  /** The operator token the agent was started with, if any. */
  readonly token: string | undefined;
  #log: string[];
  #stdout: string[];
  #ownsStorage: boolean;
  #exited: Promise<Deno.CommandStatus>;

  constructor(
    child: Deno.ChildProcess,
    storage: string,
    port: number,
    log: string[],
    ownsStorage: boolean,
    exited: Promise<Deno.CommandStatus>,
    token: string | undefined,
    stdout: string[],
  ) {
    this.#stdout = stdout;
    this.child = child;
    this.storage = storage;
    this.port = port;
    this.token = token;
    this.url = withToken(`ws://127.0.0.1:${port}/ws`, token);
    this.#log = log;
    this.#ownsStorage = ownsStorage;
    this.#exited = exited;
  }

  /** Everything the agent wrote to stderr so far. */
  get log(): string {
    return this.#log.join("");
  }

  /** Everything the agent wrote to stdout so far. */
  get stdout(): string {
    return this.#stdout.join("");
  }

  /** Resolves with the exit status. */
  get exited(): Promise<Deno.CommandStatus> {
    return this.#exited;
  }

  /** Opens a client connection. */
  /** Opens a client connection with the agent's token (unless the path brings its own). */
  connect(path = "/ws"): Promise<Client> {
    const url = `ws://127.0.0.1:${this.port}${path}`;
    return Client.open(/[?&]token=/.test(path) ? url : withToken(url, this.token));
  }

  /** Waits until the agent's log contains `text`. */
  async waitForLog(text: string | RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(typeof text === "string" ? this.log.includes(text) : text.test(this.log))) {
      if (Date.now() > deadline) throw new Error(`Log never showed ${text}:\n${this.log}`);
      await delay(20);
    }
  }

  /** Sends SIGTERM and waits for the exit; SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<Deno.CommandStatus> {
    try {
      this.child.kill("SIGTERM");
    } catch {
      // Already exited.
    }
    const timer = setTimeout(() => {
      try {
        this.child.kill("SIGKILL");
      } catch {
        // Exited meanwhile.
      }
    }, graceMs);
    try {
      return await this.#exited;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops the agent and removes its storage (unless the caller passed it in). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    if (this.#ownsStorage) await Deno.remove(this.storage, { recursive: true }).catch(() => {});
  }
}

/**
 * The interpreter projects run on when the agent, run as root, switches them to the sandbox
 * user: that user cannot run a pyenv python3 under root's 0700 home (docs/security.md).
 */
const SANDBOX_PYTHON = "/usr/bin/python3";

/** `config` with `sandbox.python` set, unless it has a `sandbox:` section of its own. */
function withSandboxPython(config: string | undefined): string | undefined {
  if (config !== undefined && /^sandbox:/m.test(config)) return config;
  try {
    Deno.statSync(SANDBOX_PYTHON);
  } catch {
    return config;
  }
  return `${config ?? ""}\nsandbox:\n  python: ${SANDBOX_PYTHON}\n`;
}

/** Starts the agent from source exactly as `deno task start` does, on a free port. */
export async function startAgent(options: StartAgentOptions = {}): Promise<Agent> {
  const ownsStorage = options.storage === undefined;
  const storage = options.storage ?? await Deno.makeTempDir({ prefix: "robot-agent-test-" });
  const args = [
    "--port",
    "0",
    "--host",
    "127.0.0.1",
    "--storage",
    storage,
    ...(options.args ?? []),
  ];
  // A test passing its own --config file sets what it needs itself.
  const config = options.args?.includes("--config")
    ? options.config
    : withSandboxPython(options.config);
  if (config !== undefined) {
    const file = join(storage, "test-config.yaml");
    await Deno.writeTextFile(file, config);
    args.push("--config", file);
  }
  const deno = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
  // `NAME=value … deno run FLAGS main.ts`: the same environment, flags and entry point.
  const words = (deno.tasks.start as string).split(" ");
  const token = options.token === null ? undefined : options.token ?? testToken();
  const env: Record<string, string> = {
    ...Object.fromEntries(
      words.filter((word) => /^[A-Z_]+=/.test(word)).map((word) => word.split("=", 2)),
    ),
    ...(token ? { ROBOT_AGENT_TOKEN: token } : {}),
    ...options.env,
  };
  const task = words.slice(words.indexOf("deno") + 1);
  const prefix = options.prefix ?? [];
  const child = new Deno.Command(prefix[0] ?? Deno.execPath(), {
    args: [...prefix.slice(1), ...(prefix.length > 0 ? [Deno.execPath()] : []), ...task, ...args],
    env,
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const log: string[] = [];
  const stderr = (async () => {
    for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
      log.push(text);
      if (options.verbose) await Deno.stderr.write(new TextEncoder().encode(text));
    }
  })();
  const port = Promise.withResolvers<number>();
  const printed: string[] = [];
  const stdout = (async () => {
    let seen = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      seen += text;
      printed.push(text);
      const match = /listening on wss?:\/\/[^:]+:(\d+)\/ws/.exec(seen);
      if (match) port.resolve(Number(match[1]));
    }
    port.reject(new Error(`Agent exited before listening:\n${seen}\n${log.join("")}`));
  })();
  const exited = Promise.all([child.status, stdout, stderr]).then(([status]) => status);
  const timer = setTimeout(
    () => port.reject(new Error("Agent did not listen within 30 s")),
    30_000,
  );
  try {
    return new Agent(child, storage, await port.promise, log, ownsStorage, exited, token, printed);
  } catch (error) {
    try {
      child.kill("SIGKILL");
    } catch {
      // It exited on its own (the usual case: a start-up error).
    }
    await exited;
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Config for a test that sends one large message (a one-message UPDATE of tens of MB): the
 * agent takes a message that takes longer than `safety.link_timeout_ms` (500 ms) to arrive
 * for a link gone dark (docs/protocol.md), and a loaded machine can take that long.
 */
export const LONG_LINK_TIMEOUT = "safety:\n  link_timeout_ms: 30000\n";

/** A fresh random operator token for one test agent. */
export function testToken(): string {
  return `ra_test_${crypto.getRandomValues(new Uint8Array(16)).toHex()}`;
}

/** `url` with `?token=` (or `&token=`) added, when there is a token. */
export function withToken(url: string, token: string | undefined): string {
  if (!token) return url;
  return `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
}

/** A message from the agent. */
// deno-lint-ignore no-explicit-any
export type Message = Record<string, any>;

/** A WebSocket client that queues what it receives and lets tests wait for messages. */
export class Client {
  readonly socket: WebSocket;
  readonly received: Message[] = [];
  #waiters: { match(m: Message): boolean; resolve(m: Message): void }[] = [];
  #closed = Promise.withResolvers<CloseEvent>();

  private constructor(socket: WebSocket) {
    this.socket = socket;
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data as string) as Message;
      const waiter = this.#waiters.findIndex((w) => w.match(message));
      if (waiter >= 0) this.#waiters.splice(waiter, 1)[0].resolve(message);
      else this.received.push(message);
    };
    socket.onclose = (event) => this.#closed.resolve(event);
    socket.onerror = () => {};
  }

  /** Connects and waits for the open event. */
  static open(url: string): Promise<Client> {
    const socket = new WebSocket(url);
    return new Promise((resolve, reject) => {
      socket.onopen = () => resolve(new Client(socket));
      socket.onerror = (event) =>
        reject(new Error(`Cannot connect to ${url}: ${(event as ErrorEvent).message}`));
    });
  }

  /** Resolves with the close event. */
  get closed(): Promise<CloseEvent> {
    return this.#closed.promise;
  }

  /** Sends a JSON message (or raw text or bytes). */
  send(message: Message | string | Uint8Array): void {
    this.socket.send(
      typeof message === "string" || message instanceof Uint8Array
        ? message
        : JSON.stringify(message),
    );
  }

  /** Waits for the first message (queued or future) that `match` accepts. */
  next(match: (m: Message) => boolean = () => true, timeoutMs = 15_000): Promise<Message> {
    const queued = this.received.findIndex(match);
    if (queued >= 0) return Promise.resolve(this.received.splice(queued, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(
          new Error(
            `No matching message within ${timeoutMs} ms; received: ${
              JSON.stringify(this.received).slice(0, 2000)
            }`,
          ),
        );
      }, timeoutMs);
      const done = (m: Message) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.#waiters.push({ match, resolve: done });
    });
  }

  /** The reply (status success or error, not a callback) with this id. */
  reply(id: unknown, timeoutMs?: number): Promise<Message> {
    return this.next((m) => m.id === id && m.status !== "callback", timeoutMs);
  }

  /** The callback (not an event) with this id. */
  callback(id: unknown, timeoutMs?: number): Promise<Message> {
    return this.next((m) => m.id === id && m.status === "callback" && !m.event, timeoutMs);
  }

  /** The next event with this name. */
  event(name: string, timeoutMs?: number): Promise<Message> {
    return this.next((m) => m.status === "callback" && m.event === name, timeoutMs);
  }

  /** Sends a command with an id and waits for its reply. */
  async request(message: Message, timeoutMs?: number): Promise<Message> {
    const reply = this.reply(message.id, timeoutMs);
    this.send(message);
    return await reply;
  }

  /** Sends `process` and returns the ACK and the callback. */
  async call(
    id: unknown,
    object: string,
    method: string,
    args: Record<string, unknown> = {},
  ): Promise<{ ack: Message; callback: Message }> {
    const ack = await this.request({ command: "process", id, params: { object, method, args } });
    if (ack.status !== "success") return { ack, callback: {} };
    return { ack, callback: await this.callback(id) };
  }

  /** Deploys a Python project made of `files` (update, then start); throws if either fails. */
  async deploy(files: Record<string, string>): Promise<void> {
    const zip = await makeZip(files);
    const updated = await this.request({ command: "update", id: "deploy", data: zip.toBase64() });
    if (updated.status !== "success") throw new Error(`Cannot deploy: ${updated.message}`);
    const started = await this.request({ command: "start", id: "deploy-start" });
    if (started.status !== "success") throw new Error(`Cannot start: ${started.message}`);
  }

  /** Closes the connection and waits for the close to complete. */
  async close(): Promise<void> {
    if (this.socket.readyState < WebSocket.CLOSING) this.socket.close();
    await this.#closed.promise;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Builds a zip from a map of names to contents; `modes` sets Unix modes per name. */
export async function makeZip(
  files: Record<string, string | Uint8Array>,
  options: { modes?: Record<string, number>; level?: number } = {},
): Promise<Uint8Array> {
  const writer = new ZipWriter(new Uint8ArrayWriter(), { useWebWorkers: false });
  for (const [name, content] of Object.entries(files)) {
    const bytes = typeof content === "string" ? new TextEncoder().encode(content) : content;
    const mode = options.modes?.[name];
    await writer.add(name, new Uint8ArrayReader(bytes), {
      level: options.level ?? 6,
      ...(mode === undefined
        ? {}
        : { externalFileAttributes: (mode | 0o100000) << 16, versionMadeBy: 0x031e }),
    });
  }
  return await writer.close();
}

/** Compiles a C++ source with g++ into `dir` and returns the executable's bytes. */
export async function buildCpp(source: string, dir: string): Promise<Uint8Array> {
  const src = join(dir, "main.cpp");
  const out = join(dir, "app");
  await Deno.writeTextFile(src, source);
  const result = await new Deno.Command("g++", { args: ["-O1", "-o", out, src] }).output();
  if (!result.success) throw new Error(`g++ failed:\n${new TextDecoder().decode(result.stderr)}`);
  return await Deno.readFile(out);
}

/** Every live process as pid → [parent pid, state]; from `ps`, since Deno reads /proc only with -A. */
async function processTable(): Promise<Map<number, [number, string]>> {
  const output = await new Deno.Command("ps", { args: ["-e", "-o", "pid=,ppid=,stat="] }).output();
  const table = new Map<number, [number, string]>();
  for (const line of new TextDecoder().decode(output.stdout).split("\n")) {
    const [pid, ppid, stat] = line.trim().split(/\s+/);
    if (pid) table.set(Number(pid), [Number(ppid), stat]);
  }
  return table;
}

/** The pids of every live process whose parent chain leads to `root` (excluding root). */
export async function descendants(root: number): Promise<number[]> {
  const table = await processTable();
  const out: number[] = [];
  const walk = (pid: number) => {
    for (const [child, [parent, stat]] of table) {
      if (parent === pid && !stat.startsWith("Z")) {
        out.push(child);
        walk(child);
      }
    }
  };
  walk(root);
  return out;
}

/** Whether a process is alive (and not a zombie). */
export async function isAlive(pid: number): Promise<boolean> {
  const entry = (await processTable()).get(pid);
  return entry !== undefined && !entry[1].startsWith("Z");
}

/** Resolves after `ms` milliseconds. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Hex sha256 of bytes. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A bare WebSocket client over TCP that reads only when asked (to play a dead or slow peer). */
export class RawClient {
  readonly conn: Deno.TcpConn;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Connects and completes the opening handshake, reading nothing after it. */
  static async open(port: number, path = "/ws"): Promise<RawClient> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version: 13\r\n\r\n",
    ));
    let head = "";
    const buffer = new Uint8Array(1);
    while (!head.endsWith("\r\n\r\n")) {
      if (await conn.read(buffer) === null) throw new Error("Handshake failed: connection closed");
      head += String.fromCharCode(buffer[0]);
    }
    if (!head.startsWith("HTTP/1.1 101")) throw new Error(`Handshake refused: ${head}`);
    return new RawClient(conn);
  }

  /** Sends one masked text frame. */
  async send(message: Message): Promise<void> {
    const payload = new TextEncoder().encode(JSON.stringify(message));
    const length = payload.length;
    const header = length < 126
      ? [0x81, 0x80 | length]
      : [0x81, 0x80 | 126, length >> 8, length & 0xff];
    const frame = new Uint8Array(header.length + 4 + length);
    frame.set(header);
    const mask = [1, 2, 3, 4];
    frame.set(mask, header.length);
    for (let i = 0; i < length; i++) frame[header.length + 4 + i] = payload[i] ^ mask[i % 4];
    await this.conn.write(frame);
  }

  /**
   * Reads what the server sent until it closes (or `timeoutMs` passes) and returns the
   * text messages, parsed, and the close code.
   */
  async drain(timeoutMs = 5000): Promise<{ messages: Message[]; closeCode: number | undefined }> {
    const chunks: Uint8Array[] = [];
    const timer = setTimeout(() => this.close(), timeoutMs);
    try {
      const buffer = new Uint8Array(1 << 16);
      while (true) {
        const n = await this.conn.read(buffer);
        if (n === null) break;
        chunks.push(buffer.slice(0, n));
      }
    } catch {
      // Closed by the timeout: what arrived is parsed below.
    } finally {
      clearTimeout(timer);
    }
    const data = new Uint8Array(chunks.reduce((total, c) => total + c.length, 0));
    chunks.reduce((at, c) => (data.set(c, at), at + c.length), 0);
    const messages: Message[] = [];
    let closeCode: number | undefined;
    let at = 0;
    while (at + 2 <= data.length) {
      const opcode = data[at] & 0x0f;
      let length = data[at + 1] & 0x7f;
      let start = at + 2;
      if (length === 126) {
        length = (data[at + 2] << 8) | data[at + 3];
        start = at + 4;
      } else if (length === 127) {
        length = Number(new DataView(data.buffer, at + 2, 8).getBigUint64(0));
        start = at + 10;
      }
      if (start + length > data.length) break;
      const payload = data.subarray(start, start + length);
      if (opcode === 1) messages.push(JSON.parse(new TextDecoder().decode(payload)));
      if (opcode === 8 && length >= 2) closeCode = (payload[0] << 8) | payload[1];
      at = start + length;
    }
    return { messages, closeCode };
  }

  /** Closes the TCP connection without a close frame. */
  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}
