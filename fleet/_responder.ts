/**
 * The robot's subjects: commands on `P.ID.cmd` (request-reply) run through the
 * {@linkcode CommandBridge}, their callbacks, further replies and the robot's events
 * published on `P.ID.evt.…`, and NATS service discovery (`$SRV.PING|INFO|STATS`, service
 * name `P`), so `fleet ls` (or `nats micro ls P`) finds every robot that is up.
 *
 * A request carrying the header `Robot-Agent-Takeover: 1` may take the controller's slot
 * from a local operator (the safety stop first). A message over the broker's
 * `max_payload` is replaced by a `MESSAGE_TOO_LARGE` error under the same id.
 *
 * @module
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { logger } from "../log.ts";
import {
  bridgeError,
  type CommandBridge,
  type GatewayMessage,
  parseGatewayMessage,
} from "./_bridge.ts";
import { commandSubject, eventSubject, type FleetNames } from "./_names.ts";

const log = logger("fleet", "responder");

/** The request header that asks to take control from a local operator. */
export const TAKEOVER_HEADER = "Robot-Agent-Takeover";

/** Options for {@linkcode Responder}. */
export interface ResponderOptions {
  nc: NatsConnection;
  bridge: CommandBridge;
  names: FleetNames;
  robot: { id: string; labels: Record<string, string> };
  version: string;
}

/** Serves this robot's subjects on one connection. */
export class Responder {
  #options: ResponderOptions;
  #subscriptions: Subscription[] = [];
  #started = new Date().toISOString();
  #requests = 0;
  #errors = 0;
  #tooLarge = 0;

  /** Subscribes to the command subject and the discovery subjects. */
  constructor(options: ResponderOptions) {
    this.#options = options;
    const { nc, names, robot } = options;
    this.#subscriptions.push(
      nc.subscribe(commandSubject(names, robot.id), {
        callback: (error, msg) => error ? undefined : this.#onCommand(msg),
      }),
    );
    for (const verb of ["PING", "INFO", "STATS"]) {
      for (const subject of [`$SRV.${verb}`, `$SRV.${verb}.${names.prefix}`]) {
        this.#subscriptions.push(nc.subscribe(subject, {
          callback: (error, msg) => error ? undefined : this.#onDiscovery(verb, msg),
        }));
      }
      this.#subscriptions.push(nc.subscribe(`$SRV.${verb}.${names.prefix}.${robot.id}`, {
        callback: (error, msg) => error ? undefined : this.#onDiscovery(verb, msg),
      }));
    }
  }

  /** Publishes an event from the robot (while a fleet connection is open). */
  publishEvent(message: GatewayMessage): void {
    const { names, robot } = this.#options;
    this.#publish(eventSubject(names, robot.id, "event", message.event), message);
  }

  /** Publishes a message under an id no request waits for (on `evt.reply`). */
  publishOrphan(message: GatewayMessage): void {
    const { names, robot } = this.#options;
    this.#publish(eventSubject(names, robot.id, "reply"), message);
  }

  /** Stops serving. */
  close(): void {
    for (const subscription of this.#subscriptions) subscription.unsubscribe();
    this.#subscriptions = [];
  }

  #onCommand(msg: Msg): void {
    this.#requests++;
    let message: unknown;
    try {
      message = JSON.parse(msg.string());
    } catch {
      message = undefined;
    }
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      this.#errors++;
      this.#respond(msg, bridgeError("BAD_REQUEST", "Invalid message: expected a JSON object"));
      return;
    }
    const takeover = msg.headers?.get(TAKEOVER_HEADER) === "1";
    const { names, robot } = this.#options;
    void this.#options.bridge.submit(message as Record<string, unknown>, {
      reply: (reply) => {
        if (reply.status === "error") this.#errors++;
        this.#respond(msg, reply);
      },
      later: (later) => {
        const kind = later.status === "callback" ? "callback" : "reply";
        this.#publish(eventSubject(names, robot.id, kind), later);
      },
    }, { takeover });
  }

  #respond(msg: Msg, message: GatewayMessage): void {
    const text = this.#fit(message);
    if (msg.reply) msg.respond(text);
    else this.publishOrphan(parseGatewayMessage(text) ?? message);
  }

  #publish(subject: string, message: GatewayMessage): void {
    try {
      this.#options.nc.publish(subject, this.#fit(message));
    } catch (error) {
      log.debug("Cannot publish on {subject}: {error}", { subject, error: String(error) });
    }
  }

  /** The message's text, or an error in its place when it exceeds the broker's limit. */
  #fit(message: GatewayMessage): string {
    const max = this.#options.nc.info?.max_payload ?? 1024 * 1024;
    // UTF-8 takes at most three bytes per UTF-16 unit; count only when it might not fit.
    const size = message.text.length * 3 <= max ? 0 : new TextEncoder().encode(message.text).length;
    if (size <= max) return message.text;
    this.#tooLarge++;
    const why = `Message too large for the broker: ${size} bytes, max_payload is ${max}`;
    if (message.status !== "callback" || message.event !== undefined) {
      return bridgeError("MESSAGE_TOO_LARGE", why, message.id).text;
    }
    const data = message.data as { object?: unknown; method?: unknown };
    return JSON.stringify({
      status: "callback",
      id: message.id,
      data: {
        object: data?.object,
        method: data?.method,
        ok: false,
        error: { code: "MESSAGE_TOO_LARGE", message: why },
      },
    });
  }

  #onDiscovery(verb: string, msg: Msg): void {
    const { names, robot, version } = this.#options;
    const base = {
      name: names.prefix,
      id: robot.id,
      version,
      metadata: { robot_id: robot.id, ...robot.labels },
    };
    const endpoint = {
      name: "cmd",
      subject: commandSubject(names, robot.id),
    };
    const body = verb === "PING"
      ? { type: "io.nats.micro.v1.ping_response", ...base }
      : verb === "INFO"
      ? {
        type: "io.nats.micro.v1.info_response",
        ...base,
        description: `robot-agent on ${robot.id}`,
        endpoints: [endpoint],
      }
      : {
        type: "io.nats.micro.v1.stats_response",
        ...base,
        started: this.#started,
        endpoints: [{
          ...endpoint,
          num_requests: this.#requests,
          num_errors: this.#errors,
          messages_too_large: this.#tooLarge,
        }],
      };
    msg.respond(JSON.stringify(body));
  }
}
