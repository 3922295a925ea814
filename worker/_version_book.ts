/**
 * What the worker knows of each deployed version beyond its files: whether it proved
 * itself (good, failed, candidate), why it failed, and the sha256 of the zip it came from.
 *
 * One small JSON file, `STORAGE/versions.json`, replaced with `rename(2)` on every change,
 * so a crash leaves the old or the new book whole; version folders stay as deployed.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import type { VersionStatus } from "../ipc/mod.ts";
import { logger } from "../log.ts";

const log = logger("worker", "versions");

/** What the book holds of one version. */
export interface VersionEntry {
  status: VersionStatus;
  /** Why it failed; null unless failed. */
  reason: string | null;
  /** The sha256 (hex) of its zip; null when unknown. */
  sha256: string | null;
  /** When its status last changed (ISO 8601); null while it never ran. */
  statusAt: string | null;
}

/** The built-in project: always good, from no zip. */
const BUILT_IN: VersionEntry = Object.freeze({
  status: "good",
  reason: null,
  sha256: null,
  statusAt: null,
});

/** A version the book has no entry for (deployed by an agent without one): unproven. */
const UNKNOWN: VersionEntry = Object.freeze({
  status: "candidate",
  reason: null,
  sha256: null,
  statusAt: null,
});

const STATUSES: ReadonlySet<string> = new Set(["good", "failed", "candidate"]);

/** The status of every deployed version, persisted. */
export class VersionBook {
  #path: string;
  #entries = new Map<number, VersionEntry>();
  #saving: Promise<void> = Promise.resolve();
  #now: () => Date;

  /** A book kept in the file at `path`; {@linkcode open} reads it. */
  constructor(path: string, options: { now?: () => Date } = {}) {
    this.#path = path;
    this.#now = options.now ?? (() => new Date());
  }

  /** Reads the file; a missing one is an empty book, an unreadable one is logged and ignored. */
  async open(): Promise<void> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.#path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        log.warn("Cannot read the version book: {error}", { error: errorMessage(error) });
      }
      return;
    }
    try {
      this.#entries = parseBook(JSON.parse(text));
    } catch (error) {
      log.warn("Ignoring an unreadable version book: {error}", { error: errorMessage(error) });
    }
  }

  /** What the book says of `version`; version 0, the built-in project, is good. */
  entry(version: number): VersionEntry {
    if (version === 0) return BUILT_IN;
    return this.#entries.get(version) ?? UNKNOWN;
  }

  /** The versions the book has entries for. */
  versions(): number[] {
    return [...this.#entries.keys()];
  }

  /** Records a freshly deployed version: a candidate. */
  deployed(version: number, sha256: string | null): Promise<void> {
    this.#entries.set(version, { status: "candidate", reason: null, sha256, statusAt: null });
    return this.#save();
  }

  /** Records a version's new status; `reason` says why it failed. No-op for version 0. */
  mark(version: number, status: VersionStatus, reason: string | null = null): Promise<void> {
    if (version === 0) return Promise.resolve();
    const sha256 = this.entry(version).sha256;
    this.#entries.set(version, {
      status,
      reason: status === "failed" ? reason : null,
      sha256,
      statusAt: this.#now().toISOString(),
    });
    return this.#save();
  }

  /** Forgets the versions not in `kept` (pruned from disk). */
  keepOnly(kept: Iterable<number>): Promise<void> {
    const keep = new Set(kept);
    const before = this.#entries.size;
    for (const version of [...this.#entries.keys()]) {
      if (!keep.has(version)) this.#entries.delete(version);
    }
    return this.#entries.size === before ? Promise.resolve() : this.#save();
  }

  /** Writes the whole book, one write after another, each with a rename. */
  #save(): Promise<void> {
    const json = JSON.stringify(
      Object.fromEntries([...this.#entries].map(([version, entry]) => [version, {
        status: entry.status,
        reason: entry.reason,
        sha256: entry.sha256,
        status_at: entry.statusAt,
      }])),
      null,
      2,
    );
    this.#saving = this.#saving.then(async () => {
      const temp = `${this.#path}.tmp`;
      await Deno.writeTextFile(temp, json);
      await Deno.rename(temp, this.#path);
    }).catch((error) => {
      log.warn("Cannot write the version book: {error}", { error: errorMessage(error) });
    });
    return this.#saving;
  }
}

function parseBook(value: unknown): Map<number, VersionEntry> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new TypeError("not a JSON object");
  }
  const entries = new Map<number, VersionEntry>();
  for (const [key, raw] of Object.entries(value)) {
    const version = Number(key);
    const item = raw as Record<string, unknown> | null;
    if (!Number.isSafeInteger(version) || version < 1 || typeof item !== "object" || !item) {
      continue;
    }
    const status = String(item.status);
    entries.set(version, {
      status: STATUSES.has(status) ? status as VersionStatus : "candidate",
      reason: typeof item.reason === "string" ? item.reason : null,
      sha256: typeof item.sha256 === "string" ? item.sha256 : null,
      statusAt: typeof item.status_at === "string" ? item.status_at : null,
    });
  }
  return entries;
}
