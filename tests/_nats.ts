/**
 * Test and benchmark support: a real `nats-server -js` (Debian's package) on a free
 * loopback port with its own JetStream folder, stopped (and restartable) by the test.
 *
 * @module
 */
import { join } from "node:path";

/** Options for {@linkcode startBroker}. */
export interface BrokerOptions {
  /** A nats-server configuration (accounts, users); `listen` and JetStream are added. */
  config?: string;
  /** The port; a free one by default (a restart keeps it). */
  port?: number;
  /** Show the server's log on stderr. */
  verbose?: boolean;
}

/** Picks a free loopback TCP port. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function reachable(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/** A running broker. */
export class Broker implements AsyncDisposable {
  readonly port: number;
  readonly dir: string;
  #options: BrokerOptions;
  #child: Deno.ChildProcess | undefined;
  #log: string[] = [];
  #readers: Promise<void>[] = [];

  constructor(port: number, dir: string, options: BrokerOptions) {
    this.port = port;
    this.dir = dir;
    this.#options = options;
  }

  /** Where clients connect. */
  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  /** The server's process id, while it runs. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** What the server wrote so far. */
  get log(): string {
    return this.#log.join("");
  }

  /** Starts the server and waits until it accepts connections (at most 10 s). */
  async start(): Promise<void> {
    const args = ["-js", "-a", "127.0.0.1", "-p", String(this.port), "-sd", join(this.dir, "js")];
    if (this.#options.config !== undefined) {
      const file = join(this.dir, "nats-server.conf");
      await Deno.writeTextFile(file, this.#options.config);
      args.push("-c", file);
    }
    this.#child = new Deno.Command("nats-server", {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    for (const stream of [this.#child.stdout, this.#child.stderr]) {
      this.#readers.push((async () => {
        for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
          this.#log.push(chunk);
          // deno-lint-ignore no-console -- test output on request
          if (this.#options.verbose) console.error(chunk.trimEnd());
        }
      })());
    }
    const deadline = Date.now() + 10_000;
    while (!await reachable(this.port)) {
      if (Date.now() > deadline) throw new Error(`nats-server never listened:\n${this.log}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Stops the server (SIGKILL with `hard`, as a crash would) and waits for its exit. */
  async stop(hard = false): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = undefined;
    try {
      child.kill(hard ? "SIGKILL" : "SIGTERM");
    } catch {
      // Exited already.
    }
    await child.status;
    await Promise.all(this.#readers);
    this.#readers = [];
  }

  /** Stops the server and removes its folder. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/** Starts a broker on a free port (or `options.port`) with a fresh JetStream folder. */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const dir = await Deno.makeTempDir({ prefix: "robot-agent-nats-" });
  const broker = new Broker(options.port ?? freePort(), dir, options);
  try {
    await broker.start();
  } catch (error) {
    await broker[Symbol.asyncDispose]();
    throw error;
  }
  return broker;
}
