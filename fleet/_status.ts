/**
 * A robot's record in the status bucket (key: its id): who it is, how it is, where its
 * convergence stands. {@linkcode StatusReporter} writes it every `fleet.heartbeat_s` and
 * at once when the convergence moves (at most every 250 ms).
 *
 * @module
 */
import type { KV } from "@nats-io/kv";
import { logger } from "../log.ts";
import type { CommandBridge } from "./_bridge.ts";

const log = logger("fleet", "status");

/** Where a robot stands with its desired state. */
export type ConvergeState =
  /** No desired state names it. */
  | "idle"
  /** It cannot proceed now (a local operator controls it, the broker is gone); it retries. */
  | "waiting"
  | "fetching"
  | "deploying"
  | "starting"
  /** Started; watched for `lifecycle.probation_s` before it counts as good. */
  | "probation"
  | "converged"
  /** The deploy failed before the new version became current: nothing changed. */
  | "failed"
  /** The new version failed; the last good version runs again. */
  | "rolled_back";

/** The convergence part of a robot's record. */
export interface FleetReport {
  state: ConvergeState;
  /** The desired-state key it follows (`robot.ID`, `sel.…`). */
  key?: string;
  deploy_id?: string;
  sha256?: string;
  name?: string;
  /** The project version the deploy made. */
  version?: number;
  progress?: { received: number; size: number };
  error?: { code: string; message: string };
  /** After a rollback: the version running again. */
  rolled_back_to?: number;
  /** The last version that passed probation (`sha256` null: not deployed by the fleet). */
  last_good?: { version: number; sha256: string | null };
  updated_at: string;
}

/** A robot's whole record. */
export interface RobotRecord {
  robot_id: string;
  labels: Record<string, string>;
  agent_version: string;
  /** False in the last record of an agent that stopped. */
  online: boolean;
  seen_at: string;
  heartbeat_s: number;
  health: {
    worker: string | null;
    project: { type: string | null; version: number | null; state: string | null } | null;
    /** Who holds the controller's slot now. */
    controller: string | null;
  };
  fleet: FleetReport;
}

/** Whether a record is recent: online and seen within three heartbeats. */
export function isOnline(record: RobotRecord, now = Date.now()): boolean {
  return record.online && now - Date.parse(record.seen_at) < record.heartbeat_s * 3000 + 2000;
}

interface StatusData {
  worker?: { state?: string };
  project?: { type?: string; version?: number; state?: string };
  gateway?: { connections?: { identity: string; role: string }[] };
}

/** Options for {@linkcode StatusReporter}. */
export interface StatusReporterOptions {
  bucket: KV;
  bridge: CommandBridge;
  robot: { id: string; labels: Record<string, string> };
  version: string;
  heartbeatS: number;
}

/** Writes this robot's record. */
export class StatusReporter {
  #options: StatusReporterOptions;
  #fleet: FleetReport = { state: "idle", updated_at: new Date().toISOString() };
  #health: RobotRecord["health"] = { worker: null, project: null, controller: null };
  #timer: ReturnType<typeof setTimeout> | undefined;
  #soon: ReturnType<typeof setTimeout> | undefined;
  #lastPut = 0;
  #failing = false;
  #stopped = false;

  /** Creates the reporter; {@linkcode start} begins the heartbeat. */
  constructor(options: StatusReporterOptions) {
    this.#options = options;
  }

  /** The convergence part as last reported. */
  get fleet(): FleetReport {
    return this.#fleet;
  }

  /** Begins the heartbeat: a record now, then every `heartbeat_s`. */
  start(): void {
    void this.#beat();
  }

  /** Replaces the convergence part and writes the record soon. */
  report(fleet: Omit<FleetReport, "updated_at">): void {
    this.#fleet = { ...fleet, updated_at: new Date().toISOString() };
    if (this.#stopped || this.#soon !== undefined) return;
    const wait = Math.max(0, 250 - (Date.now() - this.#lastPut));
    this.#soon = setTimeout(() => {
      this.#soon = undefined;
      void this.#put(true);
    }, wait);
  }

  /**
   * Stops the heartbeat and writes a last record saying the agent went offline; waits at
   * most a second for it (the broker may be gone: shutdown must not wait on it).
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#soon);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.#put(false),
      new Promise((resolve) => timer = setTimeout(resolve, 1000)),
    ]);
    clearTimeout(timer);
  }

  async #beat(): Promise<void> {
    if (this.#stopped) return;
    await this.#readHealth();
    await this.#put(true);
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#beat(), this.#options.heartbeatS * 1000);
  }

  async #readHealth(): Promise<void> {
    const reply = await this.#options.bridge.request({ command: "status" }).reply;
    if (reply.status !== "success") return;
    const data = reply.data as StatusData;
    const controller = data.gateway?.connections?.find((c) => c.role === "controller");
    this.#health = {
      worker: data.worker?.state ?? null,
      project: data.project
        ? {
          type: data.project.type ?? null,
          version: data.project.version ?? null,
          state: data.project.state ?? null,
        }
        : null,
      controller: controller?.identity ?? null,
    };
  }

  /** The record as it stands. */
  record(online: boolean): RobotRecord {
    const { robot, version, heartbeatS } = this.#options;
    return {
      robot_id: robot.id,
      labels: robot.labels,
      agent_version: version,
      online,
      seen_at: new Date().toISOString(),
      heartbeat_s: heartbeatS,
      health: this.#health,
      fleet: this.#fleet,
    };
  }

  async #put(online: boolean): Promise<void> {
    this.#lastPut = Date.now();
    try {
      await this.#options.bucket.put(this.#options.robot.id, JSON.stringify(this.record(online)));
      if (this.#failing) log.info("Status record written again");
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) {
        log.warn("Cannot write the status record: {error}", {
          error: error instanceof Error ? error.message : String(error),
        });
      }
      this.#failing = true;
    }
  }
}
