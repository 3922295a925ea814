/**
 * {@linkcode FleetClient}: the operator's side of the fleet, what `robot-agent fleet …`
 * runs. It lists robots (their status records, and who answers discovery), uploads a
 * project zip once to the object store (named by its sha256; not again when it is there),
 * sets desired state per robot or label selector, follows convergence, fans calls out,
 * and rolls desired state back.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import type { KvWatchEntry } from "@nats-io/kv";
import {
  headers,
  type NatsConnection,
  NoRespondersError,
  nuid,
  TimeoutError,
} from "@nats-io/transport-node";
import { type DesiredValue, parseDesired } from "./_converge.ts";
import { connectOnce, type FleetStores, type NatsTarget, openStores, sleep } from "./_nats.ts";
import {
  commandSubject,
  type FleetNames,
  formatSelector,
  matches,
  type Selector,
  selectorKey,
} from "./_names.ts";
import { TAKEOVER_HEADER } from "./_responder.ts";
import type { RobotRecord } from "./_status.ts";

/** The names every fleet uses unless configured otherwise. */
export const DEFAULT_NAMES: FleetNames = {
  prefix: "robot-agent",
  statusBucket: "robot-agent-status",
  desiredBucket: "robot-agent-desired",
  objectStore: "robot-agent-projects",
};

/** Options for {@linkcode FleetClient.connect}. */
export interface FleetClientOptions extends NatsTarget {
  names?: Partial<FleetNames>;
  /** JetStream replicas for buckets made now (`fleet init` on a cluster: 3). */
  replicas?: number;
}

/** What an upload did. */
export interface UploadResult {
  sha256: string;
  size: number;
  /** False when the object store had this zip already (nothing was sent). */
  uploaded: boolean;
}

/** A desired state as set, with its key and revision. */
export interface DesiredEntry extends DesiredValue {
  key: string;
  revision: number;
}

/** One robot's answer to a fanned-out request. */
export interface FanOutResult {
  robot: string;
  ok: boolean;
  /** A call's result, or a command's reply data. */
  result?: unknown;
  error?: { code: string; message: string; data?: unknown };
  /** Milliseconds from sending to the last message awaited. */
  ms: number;
}

/** Options of a request to robots. */
export interface FanOutOptions {
  takeover?: boolean;
  /** Per robot (default 30 s). */
  timeoutMs?: number;
}

type Reply = {
  status: string;
  code?: string;
  message?: string;
  data?: unknown;
  id?: unknown;
};

/** The sha256 of bytes, as hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function failure(error: unknown): { code: string; message: string } {
  if (error instanceof NoRespondersError) {
    return { code: "OFFLINE", message: "no agent answers on its command subject" };
  }
  if (error instanceof TimeoutError) return { code: "TIMEOUT", message: "no answer in time" };
  return { code: "INTERNAL", message: error instanceof Error ? error.message : String(error) };
}

/** A connection to a fleet's broker, as an operator. */
export class FleetClient implements AsyncDisposable {
  #nc: NatsConnection;
  #stores: FleetStores;
  #jsm: JetStreamManager;
  /** The names this fleet uses. */
  readonly names: FleetNames;

  /** Wraps an open connection; {@linkcode FleetClient.connect} makes one. */
  constructor(
    parts: { nc: NatsConnection; stores: FleetStores; jsm: JetStreamManager; names: FleetNames },
  ) {
    this.#nc = parts.nc;
    this.#stores = parts.stores;
    this.#jsm = parts.jsm;
    this.names = parts.names;
  }

  /** Connects and opens (creating if needed) the fleet's buckets. */
  static async connect(options: FleetClientOptions): Promise<FleetClient> {
    const names = { ...DEFAULT_NAMES, ...options.names };
    const nc = await connectOnce(options);
    try {
      const stores = await openStores(nc, names, { replicas: options.replicas });
      return new FleetClient({ nc, stores, jsm: await jetstreamManager(nc), names });
    } catch (error) {
      await nc.close();
      throw error;
    }
  }

  /** Bytes this connection sent so far (the deployer's cost of a deploy). */
  get bytesSent(): number {
    return this.#nc.stats().outBytes;
  }

  /** Every robot's status record, by id. */
  async robots(selector: Selector = { kind: "all" }): Promise<RobotRecord[]> {
    const keys = await this.#keys(this.names.statusBucket);
    const records = await Promise.all(keys.map(async (key) => {
      const entry = await this.#stores.status.get(key);
      if (!entry || entry.operation !== "PUT") return undefined;
      try {
        return JSON.parse(entry.string()) as RobotRecord;
      } catch {
        return undefined;
      }
    }));
    return records
      .filter((r): r is RobotRecord => r !== undefined)
      .filter((r) => matches(selector, { id: r.robot_id, labels: r.labels ?? {} }))
      .sort((a, b) => a.robot_id.localeCompare(b.robot_id));
  }

  /**
   * A bucket's keys, from its stream's subjects: one request, where the KV's own listing
   * (a consumer counting to the pending number) can wait for ever on a bucket that robots
   * update while it is read.
   */
  async #keys(bucket: string): Promise<string[]> {
    const prefix = `$KV.${bucket}.`;
    const info = await this.#jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${prefix}>` });
    return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix.length));
  }

  /** The fleet's three JetStream streams: name, replicas, messages and bytes held. */
  async buckets(): Promise<
    { stream: string; replicas: number; messages: number; bytes: number }[]
  > {
    const streams = [
      `KV_${this.names.statusBucket}`,
      `KV_${this.names.desiredBucket}`,
      `OBJ_${this.names.objectStore}`,
    ];
    return await Promise.all(streams.map(async (stream) => {
      const info = await this.#jsm.streams.info(stream);
      return {
        stream,
        replicas: info.config.num_replicas,
        messages: info.state.messages,
        bytes: info.state.bytes,
      };
    }));
  }

  /** The ids of the robots answering service discovery within `waitMs`. */
  async discover(waitMs = 1000): Promise<string[]> {
    const ids: string[] = [];
    try {
      const replies = await this.#nc.requestMany(`$SRV.PING.${this.names.prefix}`, "", {
        strategy: "stall",
        stall: 300,
        maxWait: waitMs,
      });
      for await (const reply of replies) {
        const id = (reply.json() as { id?: unknown }).id;
        if (typeof id === "string") ids.push(id);
      }
    } catch (error) {
      if (!(error instanceof NoRespondersError)) throw error;
    }
    return ids.sort();
  }

  /**
   * Puts a zip in the object store under its sha256, unless it is there already;
   * `onProgress` hears of the bytes sent.
   */
  async upload(
    zip: Uint8Array,
    options: { name?: string; onProgress?(sent: number, size: number): void } = {},
  ): Promise<UploadResult> {
    const sha256 = sha256Hex(zip);
    const objects = this.#stores.objects;
    const existing = await objects.info(sha256);
    if (existing && !existing.deleted && existing.size === zip.length) {
      return { sha256, size: zip.length, uploaded: false };
    }
    let sent = 0;
    const chunk = 128 * 1024;
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= zip.length) return controller.close();
        const end = Math.min(zip.length, sent + chunk);
        controller.enqueue(zip.subarray(sent, end));
        sent = end;
        options.onProgress?.(sent, zip.length);
      },
    });
    await objects.put({ name: sha256, description: options.name }, source);
    return { sha256, size: zip.length, uploaded: true };
  }

  /** Sets the desired state of the robots a selector names. */
  async setDesired(
    selector: Selector,
    value: Omit<DesiredValue, "deploy_id" | "at"> & { deploy_id?: string },
  ): Promise<DesiredEntry> {
    const key = selectorKey(selector);
    const full: DesiredValue = {
      ...value,
      deploy_id: value.deploy_id ?? nuid.next(),
      at: new Date().toISOString(),
    };
    const revision = await this.#stores.desired.put(key, JSON.stringify(full));
    return { ...full, key, revision };
  }

  /** Every desired state set now, one per key. */
  async desiredStates(): Promise<DesiredEntry[]> {
    const keys = await this.#keys(this.names.desiredBucket);
    const entries = await Promise.all(keys.map(async (key) => {
      const entry = await this.#stores.desired.get(key);
      const value = entry?.operation === "PUT" ? parseDesired(entry.string()) : undefined;
      return value && entry ? { ...value, key, revision: entry.revision } : undefined;
    }));
    return entries.filter((entry): entry is DesiredEntry => entry !== undefined);
  }

  /** The desired state set for a selector, oldest first (the bucket keeps 10). */
  async desiredHistory(selector: Selector): Promise<DesiredEntry[]> {
    const key = selectorKey(selector);
    const out: DesiredEntry[] = [];
    const entries = await this.#stores.desired.history({ key });
    for await (const entry of entries) {
      const value = entry.operation === "PUT" ? parseDesired(entry.string()) : undefined;
      if (value) out.push({ ...value, key, revision: entry.revision });
    }
    return out;
  }

  /**
   * Sets a selector's desired state back to the zip it named before the current one (a new
   * deploy of it); when it named none before, removes the selector's desired state, so its
   * robots follow the next one that applies to them (`removed` is then that state).
   *
   * @throws {RangeError} when the selector has no desired state now.
   */
  async rollback(
    selector: Selector,
    by?: string,
  ): Promise<{ entry: DesiredEntry; removed: boolean }> {
    const key = selectorKey(selector);
    const now = await this.#stores.desired.get(key);
    const history = await this.desiredHistory(selector);
    const current = history.at(-1);
    if (!current || now?.operation !== "PUT") {
      throw new RangeError(`Cannot roll back ${formatSelector(selector)}: no desired state is set`);
    }
    const previous = history.findLast((entry) => entry.sha256 !== current.sha256);
    if (!previous) {
      await this.#stores.desired.delete(key);
      return { entry: current, removed: true };
    }
    const entry = await this.setDesired(selector, {
      sha256: previous.sha256,
      size: previous.size,
      name: previous.name,
      by,
      takeover: current.takeover,
    });
    return { entry, removed: false };
  }

  /** Every change of a status record from now on (current ones first), until aborted. */
  async *watchStatus(signal: AbortSignal): AsyncGenerator<RobotRecord> {
    while (!signal.aborted) {
      let entries;
      try {
        entries = await this.#stores.status.watch();
      } catch {
        await sleep(500, signal);
        continue;
      }
      const stop = () => entries.stop();
      signal.addEventListener("abort", stop, { once: true });
      if (signal.aborted) stop();
      try {
        for await (const entry of entries as AsyncIterable<KvWatchEntry>) {
          if (entry.operation !== "PUT") continue;
          try {
            yield JSON.parse(entry.string()) as RobotRecord;
          } catch {
            // Not a record.
          }
        }
      } finally {
        signal.removeEventListener("abort", stop);
      }
    }
  }

  /**
   * Sends one command to one robot and resolves with its reply, and for a `process`, with
   * its callback as the outcome.
   */
  async send(
    robot: string,
    message: Record<string, unknown>,
    options: FanOutOptions = {},
  ): Promise<FanOutResult> {
    const [result] = await this.#fanOut([robot], () => message, options);
    return result;
  }

  /** Calls `object.method(**args)` on each robot; one result per robot, in order. */
  async call(
    robots: string[],
    call: { object: string; method: string; args?: Record<string, unknown> },
    options: FanOutOptions = {},
  ): Promise<FanOutResult[]> {
    return await this.#fanOut(robots, () => ({
      command: "process",
      params: { object: call.object, method: call.method, args: call.args ?? {} },
    }), options);
  }

  async #fanOut(
    robots: string[],
    make: () => Record<string, unknown>,
    options: FanOutOptions,
  ): Promise<FanOutResult[]> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const waiting = new Map<string, PromiseWithResolvers<Reply>>();
    const callbacks = this.#nc.subscribe(`${this.names.prefix}.*.evt.callback`, {
      callback: (error, msg) => {
        if (error) return;
        const message = msg.json() as Reply;
        waiting.get(String(message.id))?.resolve(message);
      },
    });
    const hdrs = headers();
    if (options.takeover) hdrs.set(TAKEOVER_HEADER, "1");
    try {
      await this.#nc.flush();
      return await Promise.all(robots.map(async (robot) => {
        const started = performance.now();
        const id = `${nuid.next()}`;
        const callback = Promise.withResolvers<Reply>();
        waiting.set(id, callback);
        const message: Record<string, unknown> = { ...make(), id };
        try {
          const reply = (await this.#nc.request(
            commandSubject(this.names, robot),
            JSON.stringify(message),
            { timeout: timeoutMs, headers: hdrs },
          )).json() as Reply;
          if (reply.status === "error") return this.#errorOf(robot, reply, started);
          if (message.command !== "process") {
            return { robot, ok: true, result: reply.data, ms: performance.now() - started };
          }
          const outcome = await this.#within(callback.promise, timeoutMs);
          const data = outcome.data as { ok: boolean; result?: unknown; error?: Reply };
          const ms = performance.now() - started;
          return data.ok
            ? { robot, ok: true, result: data.result, ms }
            : this.#errorOf(robot, { status: "error", ...data.error }, started);
        } catch (error) {
          return { robot, ok: false, error: failure(error), ms: performance.now() - started };
        } finally {
          waiting.delete(id);
        }
      }));
    } finally {
      callbacks.unsubscribe();
    }
  }

  #errorOf(robot: string, reply: Reply, started: number): FanOutResult {
    const { code = "INTERNAL", message = "failed", data } = reply;
    return { robot, ok: false, error: { code, message, data }, ms: performance.now() - started };
  }

  async #within<T>(promise: Promise<T>, ms: number): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError()), ms);
    });
    try {
      return await Promise.race([promise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the connection, sending what is queued first. */
  async close(): Promise<void> {
    await this.#nc.drain().catch(() => this.#nc.close());
  }

  /** Closes the connection. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
