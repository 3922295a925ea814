/**
 * The `logs` command's store: the agent's recent log records and the project's output,
 * kept in a ring, and streamed to the connections that follow them, each rate-limited.
 *
 * @module
 */
import { LOG_LEVELS, type LogLevel, type LogRecord, renderMessage } from "../log.ts";

/** One record as a client sees it. */
export interface LogEntry {
  /** Its place in the agent's sequence (gaps: dropped for a follower's rate). */
  seq: number;
  /** When it was logged (ISO 8601). */
  at: string;
  level: LogLevel;
  /** `project` for a project's output, `agent` for the agent's own records. */
  source: "agent" | "project";
  /** Where in the agent (`gateway·server`) or which project process (`project·python`). */
  category: string;
  message: string;
  /** A project's stream: its stdout is logged at info, its stderr at warning. */
  stream?: "stdout" | "stderr";
  /** The project version running when a project line arrived. */
  version?: number;
}

/** What a follower asked for. */
export interface LogFilter {
  level: LogLevel;
  source: "agent" | "project" | "all";
}

/** Where a follower's entries go; `dropped` counts what its rate limit held back. */
export interface LogFollower {
  send(entry: LogEntry): void;
  dropped(count: number): void;
  /** Whether it is still there (a gone follower is forgotten). */
  readonly alive: boolean;
}

/** Options for {@linkcode LogBook}. */
export interface LogBookOptions {
  /** Records kept for `logs`' first answer. */
  capacity?: number;
  /** Entries a follower gets per second, sustained, and in a burst. */
  ratePerSecond?: number;
  burst?: number;
  /** The project version now running, for tagging its output. */
  version(): number | undefined;
}

interface Subscription {
  filter: LogFilter;
  follower: LogFollower;
  tokens: number;
  at: number;
  dropped: number;
}

/** Recent records, and the connections following new ones. */
export class LogBook {
  #ring: LogEntry[] = [];
  #capacity: number;
  #rate: number;
  #burst: number;
  #version: () => number | undefined;
  #seq = 0;
  #followers = new Map<object, Subscription>();

  /** Creates an empty book. */
  constructor(options: LogBookOptions) {
    this.#capacity = options.capacity ?? 2000;
    this.#rate = options.ratePerSecond ?? 500;
    this.#burst = options.burst ?? 2000;
    this.#version = options.version;
  }

  /** Adds a record: kept, and sent to every follower whose filter and rate let it through. */
  push(record: LogRecord): void {
    const entry = this.#entry(record);
    this.#ring.push(entry);
    if (this.#ring.length > this.#capacity) this.#ring.shift();
    for (const [key, subscription] of this.#followers) {
      if (!subscription.follower.alive) {
        this.#followers.delete(key);
        continue;
      }
      if (matches(entry, subscription.filter)) this.#offer(subscription, entry);
    }
  }

  /** The last `lines` entries that pass `filter`, oldest first. */
  recent(filter: LogFilter, lines: number): LogEntry[] {
    return this.#ring.filter((entry) => matches(entry, filter)).slice(-lines);
  }

  /** Sends new entries that pass `filter` to `follower` (replacing its earlier filter). */
  follow(key: object, filter: LogFilter, follower: LogFollower): void {
    this.#followers.set(key, {
      filter,
      follower,
      tokens: this.#burst,
      at: performance.now(),
      dropped: 0,
    });
  }

  /** Stops sending to `key`'s follower; false when it was not following. */
  unfollow(key: object): boolean {
    return this.#followers.delete(key);
  }

  #offer(subscription: Subscription, entry: LogEntry): void {
    const now = performance.now();
    subscription.tokens = Math.min(
      this.#burst,
      subscription.tokens + (now - subscription.at) * this.#rate / 1000,
    );
    subscription.at = now;
    if (subscription.tokens < 1) {
      subscription.dropped++;
      return;
    }
    subscription.tokens -= 1;
    if (subscription.dropped > 0) {
      subscription.follower.dropped(subscription.dropped);
      subscription.dropped = 0;
    }
    subscription.follower.send(entry);
  }

  #entry(record: LogRecord): LogEntry {
    const project = record.category[1] === "project";
    const entry: LogEntry = {
      seq: ++this.#seq,
      at: new Date().toISOString(),
      level: record.level,
      source: project ? "project" : "agent",
      category: record.category.slice(1).join("·"),
      message: renderMessage(record),
    };
    if (project) {
      entry.stream = record.level === "info" ? "stdout" : "stderr";
      const version = this.#version();
      if (version !== undefined) entry.version = version;
    }
    return entry;
  }
}

function matches(entry: LogEntry, filter: LogFilter): boolean {
  if (filter.source !== "all" && entry.source !== filter.source) return false;
  return LOG_LEVELS.indexOf(entry.level) >= LOG_LEVELS.indexOf(filter.level);
}
