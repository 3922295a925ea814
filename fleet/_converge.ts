/**
 * {@linkcode Converger}: this robot's side of desired state. It watches the desired-state
 * bucket (its own key `robot.ID`, and every `sel.…` key, keeping those whose selector
 * matches its labels), picks the one that applies (its own key, else the selector with
 * the most labels, else `sel.all`; the newest revision among equals), and converges on
 * it: fetch (resumable, verified), deploy, start, probation, report; on failure, back to
 * the last good version, and report that.
 *
 * A deploy is done once: its `deploy_id` is remembered (`STORAGE/fleet/state.json`, the
 * latest 32) with its outcome, so an agent that restarts does not deploy it again, and a
 * failed one is not retried (also when it applies again after a more specific desired
 * state went away) until a new deploy (a new id, even of the same zip) asks. A deploy that
 * cannot proceed (a local operator controls the robot, the broker is gone) waits
 * `fleet.retry_s` and tries again, unless a newer desired state came meanwhile.
 *
 * @module
 */
import type { KV, KvWatchEntry } from "@nats-io/kv";
import { logger } from "../log.ts";
import { joinPath as join } from "../paths.ts";
import {
  activate,
  type ApplyContext,
  DeployFailed,
  probation,
  projectState,
  RetryLater,
  rollBack,
  start,
  upload,
  versions,
} from "./_apply.ts";
import type { CommandBridge } from "./_bridge.ts";
import type { ObjectFetcher } from "./_fetch.ts";
import { sleep } from "./_nats.ts";
import { matches, type RobotIdentity, selectorOfKey, specificity } from "./_names.ts";
import type { FleetReport } from "./_status.ts";

const log = logger("fleet", "converge");

/** A desired state as the bucket holds it (the value of a key). */
export interface DesiredValue {
  sha256: string;
  size: number;
  /** What the deployer called it (the folder's name). */
  name: string;
  /** This deploy's id: a new one for every `fleet deploy`, also of the same zip. */
  deploy_id: string;
  /** When it was set (ISO 8601), and by whom. */
  at: string;
  by?: string;
  /** Take the controller's slot from a local operator (the safety stop first). */
  takeover?: boolean;
}

/** A desired state with where it came from. */
interface Desired extends DesiredValue {
  key: string;
  revision: number;
}

/** A deploy's outcome as reported. */
type Outcome = Omit<FleetReport, "updated_at" | "last_good">;

/** What the converger remembers across restarts. */
interface Memory {
  last?: Outcome;
  good?: { version: number; sha256: string | null };
  /** The outcomes of the latest deploys, by deploy id: none is tried twice. */
  outcomes?: Record<string, Outcome>;
}

/** How many deploys' outcomes are remembered. */
const OUTCOMES = 32;

/** Reads a desired-state value; undefined for one of another shape. */
export function parseDesired(text: string): DesiredValue | undefined {
  try {
    const value = JSON.parse(text);
    const ok = typeof value === "object" && value !== null &&
      typeof value.sha256 === "string" && /^[0-9a-f]{64}$/.test(value.sha256) &&
      Number.isSafeInteger(value.size) && value.size > 0 &&
      typeof value.deploy_id === "string" && value.deploy_id !== "";
    return ok ? value as DesiredValue : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The desired state that applies, among those whose selectors match one robot: its own
 * key, else the selector with the most labels, else `sel.all`; the newest revision wins
 * among equals.
 */
export function chooseDesired<T extends { key: string; revision: number }>(
  candidates: Iterable<T>,
): T | undefined {
  const rank = (entry: T) => {
    const selector = selectorOfKey(entry.key);
    return selector ? specificity(selector) : -1;
  };
  return [...candidates].sort((a, b) => rank(b) - rank(a) || b.revision - a.revision)[0];
}

/** Options for {@linkcode Converger}. */
export interface ConvergerOptions {
  desired: KV;
  fetcher: ObjectFetcher;
  bridge: CommandBridge;
  robot: RobotIdentity;
  /** Where the converger keeps its memory (`STORAGE/fleet`). */
  dir: string;
  probationS: number;
  autoRollback: boolean;
  retryS: number;
  report(fleet: Omit<FleetReport, "updated_at">): void;
}

/** Converges this robot on its desired state. */
export class Converger {
  #options: ConvergerOptions;
  #candidates = new Map<string, Desired>();
  #memory: Memory = {};
  #abort = new AbortController();
  #watchers: Promise<void>[] = [];
  #running: Promise<void> | undefined;
  #dirty = false;
  /** Aborts the fetch in progress (the link reconnected: resume at once, not after a stall). */
  #fetchAbort: AbortController | undefined;

  /** Creates the converger; {@linkcode start} begins watching. */
  constructor(options: ConvergerOptions) {
    this.#options = options;
  }

  /** Reads its memory and begins watching the desired-state bucket. */
  async start(): Promise<void> {
    try {
      this.#memory = JSON.parse(await Deno.readTextFile(this.#memoryPath));
    } catch {
      this.#memory = {};
    }
    if (this.#memory.last) this.#report(this.#memory.last);
    for (const key of [`robot.${this.#options.robot.id}`, "sel.>"]) {
      this.#watchers.push(this.#watch(key));
    }
  }

  /** Gives up the fetch in progress so that it resumes now (after a reconnect). */
  interrupt(): void {
    this.#fetchAbort?.abort(new Error("the broker connection was re-established"));
  }

  /** Stops watching (waiting at most a second for it) and for a deploy in progress to give up. */
  async stop(): Promise<void> {
    this.#abort.abort();
    // A watch being set up while the broker is away ends only when the connection closes.
    const waited = new AbortController();
    await Promise.race([Promise.all(this.#watchers), sleep(1000, waited.signal)]);
    waited.abort();
    await this.#running;
  }

  get #memoryPath(): string {
    return join(this.#options.dir, "state.json");
  }

  async #save(): Promise<void> {
    await Deno.mkdir(this.#options.dir, { recursive: true });
    const temp = `${this.#memoryPath}.tmp`;
    await Deno.writeTextFile(temp, JSON.stringify(this.#memory));
    await Deno.rename(temp, this.#memoryPath);
  }

  #report(fleet: Omit<FleetReport, "updated_at" | "last_good">): void {
    this.#options.report({ ...fleet, last_good: this.#memory.good });
  }

  /** Follows one key (or wildcard) of the bucket; a watch that ends is begun again. */
  async #watch(key: string): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        const entries = await this.#options.desired.watch({ key });
        const stop = () => entries.stop();
        signal.addEventListener("abort", stop, { once: true });
        if (signal.aborted) stop();
        try {
          for await (const entry of entries) this.#onEntry(entry);
        } finally {
          signal.removeEventListener("abort", stop);
        }
      } catch (error) {
        log.debug("Watching {key} failed: {error}", { key, error: String(error) });
      }
      await sleep(this.#options.retryS * 1000, signal);
    }
  }

  #onEntry(entry: KvWatchEntry): void {
    const selector = selectorOfKey(entry.key);
    if (!selector || !matches(selector, this.#options.robot)) return;
    const value = entry.operation === "PUT" ? parseDesired(entry.string()) : undefined;
    if (value) {
      this.#candidates.set(entry.key, { ...value, key: entry.key, revision: entry.revision });
    } else {
      if (entry.operation === "PUT") log.warn("Ignoring a malformed desired state at {key}", entry);
      this.#candidates.delete(entry.key);
    }
    this.#schedule();
  }

  #schedule(): void {
    this.#dirty = true;
    if (this.#running) return;
    this.#running = this.#loop().finally(() => this.#running = undefined);
  }

  async #loop(): Promise<void> {
    while (this.#dirty && !this.#abort.signal.aborted) {
      this.#dirty = false;
      const want = chooseDesired(this.#candidates.values());
      if (!want) {
        if (this.#memory.last) this.#report({ ...this.#memory.last, state: "idle" });
        continue;
      }
      try {
        await this.#converge(want);
      } catch (error) {
        if (this.#abort.signal.aborted) return;
        log.error("Converging on {key} failed: {error}", { key: want.key, error: String(error) });
      }
    }
  }

  async #converge(want: Desired): Promise<void> {
    const known = this.#memory.outcomes?.[want.deploy_id] ??
      (this.#memory.last?.deploy_id === want.deploy_id ? this.#memory.last : undefined);
    if (known) {
      this.#report(known);
      return;
    }
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        await this.#attempt(want);
        return;
      } catch (error) {
        if (signal.aborted) return;
        const code = error instanceof RetryLater ? error.code : "UNAVAILABLE";
        const message = error instanceof Error ? error.message : String(error);
        log.info("Deploy {deploy} waits: {message}", { deploy: want.deploy_id, message });
        this.#report({ ...this.#base(want), state: "waiting", error: { code, message } });
        if (!await sleep(this.#options.retryS * 1000, signal) || this.#dirty) return;
      }
    }
  }

  #base(want: Desired): Omit<FleetReport, "updated_at" | "state"> {
    return { key: want.key, deploy_id: want.deploy_id, sha256: want.sha256, name: want.name };
  }

  #context(want: Desired): ApplyContext {
    return {
      bridge: this.#options.bridge,
      takeover: want.takeover === true,
      signal: this.#abort.signal,
      probationS: this.#options.probationS,
      autoRollback: this.#options.autoRollback,
    };
  }

  /** One try; throws {@linkcode RetryLater} (or a network error) to be tried again. */
  async #attempt(want: Desired): Promise<void> {
    const base = this.#base(want);
    const ctx = this.#context(want);
    const { fetcher } = this.#options;
    if (await this.#kept(want, ctx)) return;
    this.#report({ ...base, state: "fetching", progress: { received: 0, size: want.size } });
    this.#fetchAbort = new AbortController();
    const fetched = await fetcher.fetch(want.sha256, {
      signal: AbortSignal.any([ctx.signal, this.#fetchAbort.signal]),
      onProgress: (progress) => this.#report({ ...base, state: "fetching", progress }),
    }).finally(() => this.#fetchAbort = undefined);
    if (!this.#memory.good) {
      const now = await projectState(ctx);
      if (now.version !== null) this.#memory.good = { version: now.version, sha256: null };
    }
    this.#report({ ...base, state: "deploying", progress: { received: 0, size: want.size } });
    let version: number | undefined;
    try {
      version = await upload(
        ctx,
        { path: fetched.path, sha256: want.sha256, size: fetched.size },
        (received) =>
          this.#report({ ...base, state: "deploying", progress: { received, size: want.size } }),
      );
      this.#report({ ...base, state: "starting", version });
      await start(ctx);
      this.#report({ ...base, state: "probation", version });
      await probation(ctx, version);
    } catch (error) {
      if (!(error instanceof DeployFailed)) throw error;
      await this.#failed(want, ctx, { version, error });
      return;
    }
    this.#memory.good = { version, sha256: want.sha256 };
    await this.#settle({ ...base, state: "converged", version });
    await fetcher.prune([want.sha256]);
    log.info("Converged on {name} ({deploy}): version {version}", {
      name: want.name,
      deploy: want.deploy_id,
      version,
    });
  }

  /**
   * Converges without a download when the robot keeps a good version of this zip: it
   * runs it already, or `activate` starts it (a fleet rollback to a recent zip).
   */
  async #kept(want: Desired, ctx: ApplyContext): Promise<boolean> {
    const base = this.#base(want);
    const now = await projectState(ctx);
    const kept = (await versions(ctx))?.versions
      .find((v) => v.sha256 === want.sha256 && v.status === "good");
    const good = this.#memory.good;
    const version = kept?.version ??
      (good?.sha256 === want.sha256 && good.version === now.version ? good.version : undefined);
    if (version === undefined) return false;
    const running = now.version === version && now.state === "running";
    if (!running && !await activate(ctx, version)) return false;
    this.#memory.good = { version, sha256: want.sha256 };
    await this.#settle({ ...base, state: "converged", version });
    log.info("Converged on {name} ({deploy}): kept version {version}", {
      name: want.name,
      deploy: want.deploy_id,
      version,
    });
    return true;
  }

  /** Records a failed deploy; rolls back first when the failed version became current. */
  async #failed(
    want: Desired,
    ctx: ApplyContext,
    failure: { version: number | undefined; error: DeployFailed },
  ): Promise<void> {
    const base = this.#base(want);
    const { version, error } = failure;
    const reason = { code: error.code, message: error.message };
    log.warn("Deploy {deploy} failed: {code}: {message}", { deploy: want.deploy_id, ...reason });
    if (version === undefined) {
      await this.#settle({ ...base, state: "failed", error: reason });
      return;
    }
    const good = this.#memory.good;
    const redeploy = good?.sha256 && await this.#options.fetcher.has(good.sha256)
      ? () => this.#redeploy(ctx, good.sha256!)
      : undefined;
    try {
      const to = await rollBack(ctx, { failed: version, good: good?.version, redeploy });
      if (good) this.#memory.good = { ...good, version: to };
      await this.#settle({
        ...base,
        state: "rolled_back",
        version,
        rolled_back_to: to,
        error: reason,
      });
      log.info("Rolled back from version {version} to {to}", { version, to });
    } catch (rollbackError) {
      const message = `${error.message}; rolling back failed too: ${
        rollbackError instanceof Error ? rollbackError.message : rollbackError
      }`;
      await this.#settle({ ...base, state: "failed", version, error: { ...reason, message } });
    }
  }

  /** Deploys and starts the kept zip of the last good version again. */
  async #redeploy(ctx: ApplyContext, sha256: string): Promise<number> {
    const path = this.#options.fetcher.pathOf(sha256);
    const size = (await Deno.stat(path)).size;
    const version = await upload(ctx, { path, sha256, size }, () => {});
    await start(ctx);
    return version;
  }

  async #settle(last: Outcome): Promise<void> {
    this.#memory.last = last;
    const outcomes = { ...this.#memory.outcomes, [last.deploy_id!]: last };
    const ids = Object.keys(outcomes);
    for (const id of ids.slice(0, Math.max(0, ids.length - OUTCOMES))) delete outcomes[id];
    this.#memory.outcomes = outcomes;
    await this.#save();
    this.#report(last);
  }
}
