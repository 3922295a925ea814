/**
 * {@linkcode startFleetLink}: the agent's fleet mode. It dials out to the broker (and
 * keeps dialling, with back-off, while it is unreachable: the local WebSocket works
 * regardless), serves this robot's command and discovery subjects, writes its status
 * record, and converges on its desired state. One owner releases all of it, in order.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import { logger } from "../log.ts";
import { joinPath as join } from "../paths.ts";
import { CommandBridge, type VirtualHost } from "./_bridge.ts";
import { Converger } from "./_converge.ts";
import { ObjectFetcher } from "./_fetch.ts";
import { connectWithBackoff, type FleetStores, openStores, sleep } from "./_nats.ts";
import { namesFromConfig, robotIdFromHostname } from "./_names.ts";
import { Responder } from "./_responder.ts";
import { StatusReporter } from "./_status.ts";

const log = logger("fleet", "link");

/** Options for {@linkcode startFleetLink}. */
export interface FleetLinkOptions {
  config: AgentConfig;
  /** The gateway: fleet commands run through its command table. */
  gateway: VirtualHost;
  /** The agent's version, in the status record and discovery. */
  version: string;
}

/** The robot id the configuration gives: `fleet.robot_id`, else the host name. */
export function robotIdOf(config: AgentConfig): string {
  return config.fleet.robot_id || robotIdFromHostname(Deno.hostname());
}

/** The running fleet link; disposing of it leaves the fleet (the robot goes offline). */
export class FleetLink implements AsyncDisposable {
  #options: FleetLinkOptions;
  #abort = new AbortController();
  #bridge: CommandBridge;
  #responder: Responder | undefined;
  #main: Promise<void>;
  #converger: Converger | undefined;
  /** Whether the broker connection is up now (a drain would wait for it otherwise). */
  #connected = false;
  #robot: { id: string; labels: Record<string, string> };

  /** Starts dialling out; returns at once. */
  constructor(options: FleetLinkOptions) {
    this.#options = options;
    const { fleet } = options.config;
    this.#robot = { id: robotIdOf(options.config), labels: fleet.labels };
    this.#bridge = new CommandBridge({
      host: options.gateway,
      idleS: fleet.control_idle_s,
      onEvent: (message) => this.#responder?.publishEvent(message),
      onOrphan: (message) => this.#responder?.publishOrphan(message),
    });
    this.#main = this.#run().catch((error) =>
      log.error("The fleet link failed: {error}", { error: String(error) })
    );
  }

  /** This robot's id in the fleet. */
  get robotId(): string {
    return this.#robot.id;
  }

  async #run(): Promise<void> {
    const { config, version } = this.#options;
    const { fleet } = config;
    const signal = this.#abort.signal;
    const nc = await connectWithBackoff({
      servers: fleet.nats_url,
      credsFile: fleet.creds_file,
      nkeyFile: fleet.nkey_file,
      token: fleet.token,
      name: `robot-agent ${this.#robot.id}`,
      inboxPrefix: `_INBOX_${this.#robot.id}`,
    }, signal);
    if (!nc) return;
    this.#connected = true;
    log.info("Fleet link to {server} as {id}", { server: nc.getServer(), id: this.#robot.id });
    void this.#watchStatus(nc, () => this.#converger?.interrupt());
    const names = namesFromConfig(fleet);
    this.#responder = new Responder({
      nc,
      bridge: this.#bridge,
      names,
      robot: this.#robot,
      version,
    });
    let reporter: StatusReporter | undefined;
    let converger: Converger | undefined;
    try {
      const stores = await this.#stores(nc, names, signal);
      if (!stores) return;
      reporter = new StatusReporter({
        bucket: stores.status,
        bridge: this.#bridge,
        robot: this.#robot,
        version,
        heartbeatS: fleet.heartbeat_s,
      });
      reporter.start();
      const dir = join(config.storage.dir, "fleet");
      converger = new Converger({
        desired: stores.desired,
        fetcher: new ObjectFetcher({
          js: stores.js,
          store: stores.objects,
          bucket: names.objectStore,
          dir: join(dir, "objects"),
        }),
        bridge: this.#bridge,
        robot: this.#robot,
        dir,
        probationS: config.lifecycle?.probation_s ?? 10,
        autoRollback: config.lifecycle?.auto_rollback ?? false,
        retryS: fleet.retry_s,
        report: (report) => reporter?.report(report),
      });
      this.#converger = converger;
      await converger.start();
      if (!signal.aborted) {
        await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
      }
    } finally {
      // Each waits at most a second for a broker that may be gone; together, one second.
      await Promise.all([converger?.stop(), reporter?.stop()]);
      this.#responder.close();
      await (this.#connected ? nc.drain() : nc.close()).catch(() => nc.close());
    }
  }

  /** Opens the buckets, creating them when allowed; retries while JetStream is away. */
  async #stores(
    nc: Parameters<typeof openStores>[0],
    names: ReturnType<typeof namesFromConfig>,
    signal: AbortSignal,
  ): Promise<FleetStores | undefined> {
    for (let attempt = 1; !signal.aborted; attempt++) {
      try {
        return await openStores(nc, names, { bindOnly: true }).catch(() => openStores(nc, names));
      } catch (error) {
        if (attempt === 1) {
          log.warn("Cannot open the fleet's buckets (run `robot-agent fleet init`?): {error}", {
            error: error instanceof Error ? error.message : String(error),
          });
        }
      }
      await sleep(this.#options.config.fleet.retry_s * 1000, signal);
    }
    return undefined;
  }

  async #watchStatus(
    nc: Parameters<typeof openStores>[0],
    onReconnect: () => void,
  ): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === "disconnect" || status.type === "reconnect") {
        log.info("Fleet link {what} ({server})", { what: status.type, server: status.server });
      }
      if (status.type === "disconnect") this.#connected = false;
      if (status.type === "reconnect") {
        this.#connected = true;
        onReconnect();
      }
    }
  }

  /** Leaves the fleet: stops converging, writes a last record, closes the connections. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#abort.abort();
    await this.#main;
    this.#bridge.close();
  }
}

/** Starts the fleet link (see {@linkcode FleetLink}). */
export function startFleetLink(options: FleetLinkOptions): FleetLink {
  return new FleetLink(options);
}
