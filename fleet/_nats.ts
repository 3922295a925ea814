/**
 * Connecting to the NATS broker: credentials from files or a token, reconnection with
 * back-off, and the JetStream buckets of a fleet.
 *
 * @module
 */
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { type ObjectStore, Objm } from "@nats-io/obj";
import {
  type Authenticator,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
} from "@nats-io/transport-node";
import { logger } from "../log.ts";
import type { FleetNames } from "./_names.ts";

const log = logger("fleet", "nats");

/** Where the broker is and how to prove who we are. */
export interface NatsTarget {
  /** One URL or several, comma-separated (`nats://host:4222`). */
  servers: string;
  /** A `.creds` file (JWT and nkey seed), as `nsc` writes it. */
  credsFile?: string;
  /** A file holding an nkey seed (`SU…`). */
  nkeyFile?: string;
  token?: string;
  /** The connection's name, shown by the broker's monitoring. */
  name?: string;
  /** Where replies to this connection's requests go (per-robot permissions need one each). */
  inboxPrefix?: string;
}

function serverList(servers: string): string[] {
  return servers.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

async function authenticator(target: NatsTarget): Promise<Authenticator | undefined> {
  if (target.credsFile) return credsAuthenticator(await Deno.readFile(target.credsFile));
  if (target.nkeyFile) {
    const seed = (await Deno.readTextFile(target.nkeyFile)).trim();
    return nkeyAuthenticator(new TextEncoder().encode(seed));
  }
  return undefined;
}

/**
 * Connects once; the connection then reconnects by itself, for ever, with a jittered
 * wait. Rejects when the broker is unreachable or refuses the credentials.
 */
export async function connectOnce(target: NatsTarget): Promise<NatsConnection> {
  const auth = await authenticator(target);
  return await connect({
    servers: serverList(target.servers),
    name: target.name,
    token: target.token || undefined,
    authenticator: auth,
    inboxPrefix: target.inboxPrefix,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    reconnectJitter: 500,
    pingInterval: 10_000,
    maxPingOut: 3,
  });
}

/** Resolves after `ms`, or when `signal` aborts (then false). */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Connects, retrying with exponential back-off (1 s doubling to 30 s, jittered) until it
 * works or `signal` aborts (then undefined). The first failure is logged as a warning,
 * later ones at debug level.
 */
export async function connectWithBackoff(
  target: NatsTarget,
  signal: AbortSignal,
): Promise<NatsConnection | undefined> {
  let wait = 1000;
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      const nc = await connectOnce(target);
      if (signal.aborted) {
        await nc.close();
        return undefined;
      }
      return nc;
    } catch (error) {
      const level = attempt === 1 ? "warn" : "debug";
      log[level]("Cannot reach the broker at {servers} (attempt {attempt}): {error}", {
        servers: target.servers,
        attempt,
        error: error instanceof Error ? error.message : String(error),
      });
    }
    if (!await sleep(wait * (0.75 + Math.random() / 2), signal)) return undefined;
    wait = Math.min(wait * 2, 30_000);
  }
  return undefined;
}

/** The JetStream parts of one fleet. */
export interface FleetStores {
  js: JetStreamClient;
  status: KV;
  desired: KV;
  objects: ObjectStore;
}

/** How the buckets are made when they do not exist yet. */
export interface BucketOptions {
  /** JetStream replicas of each bucket (1 on one broker, 3 on a cluster). */
  replicas?: number;
  /** Open only; fail if a bucket is missing (a robot with restricted permissions). */
  bindOnly?: boolean;
}

/** Opens (or creates) the status and desired-state buckets and the object store. */
export async function openStores(
  nc: NatsConnection,
  names: FleetNames,
  options: BucketOptions = {},
): Promise<FleetStores> {
  const js = jetstream(nc);
  const kvm = new Kvm(js);
  const objm = new Objm(js);
  const replicas = options.replicas ?? 1;
  if (options.bindOnly) {
    return {
      js,
      status: await kvm.open(names.statusBucket),
      desired: await kvm.open(names.desiredBucket),
      objects: await objm.open(names.objectStore),
    };
  }
  return {
    js,
    status: await kvm.create(names.statusBucket, { history: 1, replicas }),
    desired: await kvm.create(names.desiredBucket, { history: 10, replicas }),
    objects: await objm.create(names.objectStore, { replicas }),
  };
}
