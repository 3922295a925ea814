/**
 * The live feed of the Events view: the agent's events and, where the agent has `logs`,
 * its log records, kept newest last up to a bound, pausable without losing what arrives.
 *
 * @module
 */
import { Store } from "./_store.ts";

/** One line of the feed. */
export interface FeedEntry {
  seq: number;
  /** When it arrived (ms since the epoch). */
  at: number;
  kind: "event" | "log";
  /** The event's name, or the log record's category. */
  source: string;
  /** `debug` … `critical`; events are `info`, error-like events `warning`. */
  level: string;
  text: string;
}

/** Where the feed stands. */
export interface FeedState {
  entries: FeedEntry[];
  paused: boolean;
  /** Entries that arrived while paused, shown on resume. */
  held: number;
  /** What the agent said it dropped (rate limits, a slow link). */
  dropped: number;
  /** Whether the agent streams its log: not yet known, yes, or it has no `logs`. */
  logs: "unknown" | "following" | "unavailable";
}

/** Log levels, least severe first. */
export const LEVELS = ["debug", "info", "warning", "error", "critical"] as const;

const MAX_ENTRIES = 1000;
const WARNING_EVENTS = new Set(["estop", "safety_stop", "project_exited", "rolled_back"]);
const ERROR_EVENTS = new Set(["worker_crashed", "worker_restarted"]);

function levelOf(raw: unknown): string {
  const level = String(raw ?? "info").toLowerCase();
  if (level === "warn") return "warning";
  if (level === "fatal") return "critical";
  if (level === "trace") return "debug";
  return (LEVELS as readonly string[]).includes(level) ? level : "info";
}

function droppedOf(data: unknown): number {
  if (typeof data !== "object" || data === null) return 0;
  const dropped = (data as Record<string, unknown>).dropped;
  return typeof dropped === "number" && dropped > 0 ? dropped : 0;
}

/** A log record as `logs` sends it: `{level, source, category, message, …}`. */
function logEntry(data: Record<string, unknown>): Omit<FeedEntry, "seq" | "at"> {
  const category = Array.isArray(data.category) ? data.category.join("·") : data.category;
  const message = data.message ?? data.text ?? JSON.stringify(data);
  const text = typeof message === "string" ? message : JSON.stringify(message);
  return {
    kind: "log",
    source: String(data.source ?? "agent"),
    level: levelOf(data.level),
    text: category ? `[${category}] ${text}` : text,
  };
}

/** The feed's entries and controls. */
export class EventFeed {
  readonly state: Store<FeedState> = new Store<FeedState>({
    entries: [],
    paused: false,
    held: 0,
    dropped: 0,
    logs: "unknown",
  });
  #held: FeedEntry[] = [];
  #seq = 0;
  /** The agent's sequence number of the last log record shown (a re-follow repeats some). */
  #logSeq = -1;

  #isNewLog(data: Record<string, unknown>): boolean {
    if (typeof data.seq !== "number") return true;
    if (data.seq <= this.#logSeq) return false;
    this.#logSeq = data.seq;
    return true;
  }

  /** Adds an agent event (`log` events become log lines). */
  addEvent(name: string, data: unknown): void {
    const dropped = droppedOf(data);
    if (dropped) this.state.set({ dropped: this.state.value.dropped + dropped });
    if (name === "log" && typeof data === "object" && data !== null) {
      const record = data as Record<string, unknown>;
      if (this.#isNewLog(record)) this.#add(logEntry(record));
      return;
    }
    const level = ERROR_EVENTS.has(name) ? "error" : WARNING_EVENTS.has(name) ? "warning" : "info";
    this.#add({ kind: "event", source: name, level, text: JSON.stringify(data) });
  }

  /** Adds log records the agent returned at once (the reply to `logs`). */
  addLogs(records: unknown[]): void {
    for (const record of records) {
      if (typeof record === "string") {
        this.#add({ kind: "log", source: "agent", level: "info", text: record });
      } else if (typeof record === "object" && record !== null) {
        const entry = record as Record<string, unknown>;
        if (this.#isNewLog(entry)) this.#add(logEntry(entry));
      }
    }
  }

  /** Counts what the agent reported dropped elsewhere (`status`). */
  setDropped(dropped: number): void {
    if (dropped > this.state.value.dropped) this.state.set({ dropped });
  }

  /** Freezes the view; entries keep arriving and wait. */
  pause(): void {
    this.state.set({ paused: true });
  }

  /** Shows what arrived while paused, and what comes next. */
  resume(): void {
    const entries = [...this.state.value.entries, ...this.#held].slice(-MAX_ENTRIES);
    this.#held = [];
    this.state.set({ paused: false, held: 0, entries });
  }

  /** Forgets every entry. */
  clear(): void {
    this.#held = [];
    this.state.set({ entries: [], held: 0 });
  }

  #add(entry: Omit<FeedEntry, "seq" | "at">): void {
    const full = { ...entry, seq: ++this.#seq, at: Date.now() };
    if (this.state.value.paused) {
      this.#held.push(full);
      if (this.#held.length > MAX_ENTRIES) this.#held.shift();
      this.state.set({ held: this.#held.length });
      return;
    }
    this.state.set({ entries: [...this.state.value.entries, full].slice(-MAX_ENTRIES) });
  }
}
