/**
 * {@linkcode ObjectFetcher}: brings a project zip from the JetStream object store into
 * the robot's storage, resuming where an interrupted fetch stopped and checking the
 * whole file against its sha256 before it is used.
 *
 * An object is a stream of chunks on `$O.BUCKET.C.NUID`. The fetch reads them with an
 * ordered consumer; after each chunk it records the chunk's stream sequence and the
 * bytes on disk (`SHA.part.json`), so the next attempt starts at the next chunk (the
 * broker restarted, the link dropped, the agent restarted) instead of at the first.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import type { ObjectStore } from "@nats-io/obj";
import { AgentError, ErrorCode } from "../errors.ts";
import { logger } from "../log.ts";
import { joinPath as join } from "../paths.ts";

const log = logger("fleet", "fetch");

/** How long a fetch may go without a chunk before it is given up (and retried later). */
const STALL_MS = 20_000;

/** Where a fetch stands. */
export interface FetchProgress {
  received: number;
  size: number;
}

/** Options for {@linkcode ObjectFetcher.fetch}. */
export interface FetchOptions {
  signal?: AbortSignal;
  onProgress?(progress: FetchProgress): void;
  /** Stop after this many chunks of this attempt (tests interrupt a fetch with it). */
  maxChunks?: number;
}

/** What a fetch did. */
export interface FetchResult {
  /** The verified zip. */
  path: string;
  size: number;
  /** Bytes brought over the network by this call (0: it was on disk already). */
  fetched: number;
  /** Where this call started (more than 0: it resumed). */
  resumedAt: number;
}

interface PartState {
  nuid: string;
  nextSeq: number;
  bytes: number;
}

/** Brings objects named by their sha256 into `dir`. */
export class ObjectFetcher {
  #js: JetStreamClient;
  #store: ObjectStore;
  #bucket: string;
  #dir: string;

  /** Creates a fetcher over one object store, writing under `dir`. */
  constructor(options: { js: JetStreamClient; store: ObjectStore; bucket: string; dir: string }) {
    this.#js = options.js;
    this.#store = options.store;
    this.#bucket = options.bucket;
    this.#dir = options.dir;
  }

  /** Where the verified zip of `sha256` is kept. */
  pathOf(sha256: string): string {
    return join(this.#dir, `${sha256}.zip`);
  }

  /** Whether the verified zip of `sha256` is on disk. */
  async has(sha256: string): Promise<boolean> {
    return (await Deno.stat(this.pathOf(sha256)).catch(() => undefined))?.isFile === true;
  }

  /** Removes every kept zip and partial fetch but those of `keep`. */
  async prune(keep: Iterable<string>): Promise<void> {
    const kept = new Set(keep);
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.#dir)) names.push(entry.name);
    } catch {
      return;
    }
    for (const name of names) {
      if (!kept.has(name.split(".")[0])) await Deno.remove(join(this.#dir, name)).catch(() => {});
    }
  }

  /**
   * Makes the zip of `sha256` present and verified: from disk, or fetched (resumed when a
   * part is there).
   *
   * @throws {AgentError} `UPLOAD_ERROR` when the object is missing or its bytes do not
   * match; any other error (the broker gone, a stall) is worth a retry.
   */
  async fetch(sha256: string, options: FetchOptions = {}): Promise<FetchResult> {
    const path = this.pathOf(sha256);
    if (await this.has(sha256)) {
      const size = (await Deno.stat(path)).size;
      return { path, size, fetched: 0, resumedAt: size };
    }
    await Deno.mkdir(this.#dir, { recursive: true });
    const info = await this.#store.info(sha256);
    if (!info || info.deleted) {
      throw new AgentError(
        ErrorCode.UPLOAD_ERROR,
        `Cannot fetch project ${sha256.slice(0, 12)}: no such object in ${this.#bucket}`,
      );
    }
    const part = `${path}.part`;
    let state = await this.#readState(part);
    if (state?.nuid !== info.nuid) state = { nuid: info.nuid, nextSeq: 0, bytes: 0 };
    const resumedAt = state.bytes;
    if (resumedAt > 0) {
      log.info("Resuming fetch of {sha} at {bytes} bytes", { sha: sha256, bytes: resumedAt });
    }
    const file = await Deno.open(part, { create: true, write: true, read: true });
    try {
      await file.truncate(state.bytes);
      await file.seek(state.bytes, Deno.SeekMode.Start);
      if (state.bytes < info.size) {
        await this.#readChunks(file, state, { ...options, size: info.size, part });
      }
    } finally {
      file.close();
    }
    if (state.bytes < info.size) {
      throw new Error(`Fetch of ${sha256.slice(0, 12)} stopped at ${state.bytes} bytes`);
    }
    await this.#verify(part, sha256);
    await Deno.rename(part, path);
    await Deno.remove(`${part}.json`).catch(() => {});
    return { path, size: info.size, fetched: info.size - resumedAt, resumedAt };
  }

  async #readChunks(
    file: Deno.FsFile,
    state: PartState,
    options: FetchOptions & { size: number; part: string },
  ): Promise<void> {
    const stream = `OBJ_${this.#bucket}`;
    const consumer = await this.#js.consumers.get(stream, {
      filter_subjects: `$O.${this.#bucket}.C.${state.nuid}`,
      ...(state.nextSeq > 0
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: state.nextSeq }
        : { deliver_policy: DeliverPolicy.All }),
    });
    const messages = await consumer.consume({ max_messages: 8 });
    let stalled = false;
    const stall = () => {
      stalled = true;
      void messages.close();
    };
    let timer = setTimeout(stall, STALL_MS);
    const onAbort = () => void messages.close();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.signal?.aborted) onAbort();
    let chunks = 0;
    try {
      for await (const message of messages) {
        clearTimeout(timer);
        timer = setTimeout(stall, STALL_MS);
        await file.write(message.data);
        state.bytes += message.data.length;
        state.nextSeq = message.seq + 1;
        await Deno.writeTextFile(`${options.part}.json`, JSON.stringify(state));
        options.onProgress?.({ received: state.bytes, size: options.size });
        if (state.bytes >= options.size || ++chunks === options.maxChunks) break;
      }
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      await messages.close();
    }
    options.signal?.throwIfAborted();
    if (stalled) throw new Error(`Fetch stalled: no chunk for ${STALL_MS / 1000} s`);
  }

  async #readState(part: string): Promise<PartState | undefined> {
    try {
      const state = JSON.parse(await Deno.readTextFile(`${part}.json`)) as PartState;
      const size = (await Deno.stat(part)).size;
      // A chunk written but not recorded is fetched again.
      return size >= state.bytes ? state : undefined;
    } catch {
      return undefined;
    }
  }

  async #verify(part: string, sha256: string): Promise<void> {
    const hash = createHash("sha256");
    // Reading `readable` to its end closes the file.
    const file = await Deno.open(part, { read: true });
    for await (const chunk of file.readable) hash.update(chunk);
    const actual = hash.digest("hex");
    if (actual === sha256) return;
    await Deno.remove(part).catch(() => {});
    await Deno.remove(`${part}.json`).catch(() => {});
    throw new AgentError(
      ErrorCode.UPLOAD_ERROR,
      `Cannot use fetched project: its sha256 is ${actual}, not ${sha256}`,
    );
  }
}
