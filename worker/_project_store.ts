/**
 * Deployed projects on disk: versions, the current pointer, atomic switching.
 *
 * Layout under the storage folder:
 * - `projects/v000007/`: one deployed version (`files/` as extracted, `meta.json`);
 * - `projects/current`: a small file naming the current version, replaced by
 *   `rename(2)`, so a crash leaves either the old or the new pointer, never half of one
 *   (a symlink would do the same, but Deno only creates symlinks with unscoped
 *   permissions, which the worker does not have);
 * - `staging/`: extractions under way; anything left there at start-up is debris of a
 *   crash and is removed.
 *
 * @module
 */
import { joinPath, relativePath } from "../paths.ts";
import { AgentError, ErrorCode, errorMessage } from "../errors.ts";
import { logger } from "../log.ts";
import { DEFAULT_NAME, detectProject, type ProjectInfo, type ProjectType } from "./_detect.ts";
import type { ExtractLimits } from "./_extract.ts";
import type { PermissionRequest } from "./_permissions.ts";

const log = logger("worker", "store");

/** What the agent knows of one deployed version. */
export interface ProjectMeta {
  /** 0 for the built-in default project, then 1, 2, … per UPDATE. */
  version: number;
  type: ProjectType;
  /** The absolute folder holding the entry. */
  root: string;
  /** The entry, relative to `root`. */
  entry: string;
  args: string[];
  /** The project's name: its data folder (`STORAGE/data/NAME`) is kept across versions. */
  name: string;
  /** What its manifest asks under `permissions`. */
  permissions: PermissionRequest;
  /** Files extracted and their total size. */
  files: number;
  bytes: number;
  /** When it was deployed (ISO 8601). */
  deployedAt: string;
}

/** Options for {@linkcode ProjectStore}. */
export interface ProjectStoreOptions {
  keepVersions: number;
  limits: ExtractLimits;
  /** The built-in project used while nothing was deployed. */
  defaultProject: string;
  /**
   * Refuses a project before it becomes a version, by throwing (the permissions its
   * manifest asks beyond `sandbox.ceiling`).
   */
  admit?(info: ProjectInfo): void;
  /** Refuses a project that cannot run on this machine (a C++ entry for another one). */
  checkRunnable?(info: ProjectInfo): Promise<void>;
  /** Versions that pruning keeps whatever their age (the newest good one). */
  pinned?(): Iterable<number>;
}

/** The built-in default project's name, and so its data folder's. */
export const DEFAULT_PROJECT_NAME = "default";

const VERSION_PATTERN = /^v(\d{6,})$/;

function versionName(version: number): string {
  return `v${String(version).padStart(6, "0")}`;
}

/** Wraps a file system failure as `STORAGE_ERROR`, keeping AgentErrors as they are. */
function storageError(action: string, error: unknown): AgentError {
  if (error instanceof AgentError) return error;
  return new AgentError(ErrorCode.STORAGE_ERROR, `${action}: ${errorMessage(error)}`, {
    cause: error,
  });
}

/** The versions of deployed projects and which one is current. */
export class ProjectStore {
  #projects: string;
  #staging: string;
  #options: ProjectStoreOptions;
  #current: ProjectMeta | undefined;

  /** Creates a store over `storageDir`; call {@linkcode open} before use. */
  constructor(storageDir: string, options: ProjectStoreOptions) {
    this.#projects = joinPath(storageDir, "projects");
    this.#staging = joinPath(storageDir, "staging");
    this.#options = options;
  }

  /** Creates the folders, removes crash debris and reads the current version. */
  async open(): Promise<void> {
    await Deno.mkdir(this.#projects, { recursive: true });
    await Deno.remove(this.#staging, { recursive: true }).catch(() => {});
    await Deno.mkdir(this.#staging, { recursive: true });
    await Deno.remove(joinPath(this.#projects, "current.tmp")).catch(() => {});
    try {
      const target = (await Deno.readTextFile(joinPath(this.#projects, "current"))).trim();
      if (!VERSION_PATTERN.test(target)) throw new Error(`bad pointer ${JSON.stringify(target)}`);
      this.#current = await this.#readMeta(target);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) {
        log.error("Current project is unreadable; using the default project: {error}", {
          error: errorMessage(error),
        });
      }
      this.#current = undefined;
    }
  }

  /** The current project: the last deployed version, or the built-in default. */
  get current(): ProjectMeta {
    return this.#current ?? {
      version: 0,
      type: "python",
      root: this.#options.defaultProject,
      entry: "main.py",
      args: [],
      name: DEFAULT_PROJECT_NAME,
      permissions: {},
      files: 0,
      bytes: 0,
      deployedAt: "",
    };
  }

  /** What kept version `version` (1 or more) is, from its meta.json. */
  meta(version: number): Promise<ProjectMeta> {
    return this.#readMeta(versionName(version));
  }

  /** Version numbers on disk, oldest first. */
  async versions(): Promise<number[]> {
    const found: number[] = [];
    for await (const entry of Deno.readDir(this.#projects)) {
      const match = VERSION_PATTERN.exec(entry.name);
      if (entry.isDirectory && match) found.push(Number(match[1]));
    }
    return found.sort((a, b) => a - b);
  }

  /**
   * Extracts and validates a zip into a new version, without making it current.
   *
   * `verified`, when given, is a check of the zip that runs meanwhile (an upload's
   * sha256): it must resolve before the version is made, and its refusal is reported
   * rather than any the extraction met, since a zip that is not the one sent says why
   * nothing else about it can be trusted.
   *
   * @param source the zip bytes, or the path of a zip file.
   * @throws {AgentError} with the extraction, detection or storage code; nothing of a
   * refused zip is left on disk.
   */
  async add(
    source: Uint8Array | string,
    options: { signal?: AbortSignal; verified?: Promise<void> } = {},
  ): Promise<ProjectMeta> {
    const { verified, ...extractOptions } = options;
    let stage: string;
    try {
      stage = await Deno.makeTempDir({ dir: this.#staging, prefix: "deploy-" });
      await Deno.mkdir(joinPath(stage, "files"));
    } catch (error) {
      throw storageError("Cannot stage project", error);
    }
    try {
      const files = joinPath(stage, "files");
      // The zip reader loads with the first deploy: a robot only driven never needs it.
      const { extractZip } = await import("./_extract.ts");
      const result = await extractZip(source, files, {
        ...this.#options.limits,
        ...extractOptions,
      });
      const info = await detectProject(files);
      await verified;
      this.#options.admit?.(info);
      await this.#options.checkRunnable?.(info);
      const version = ((await this.versions()).at(-1) ?? this.#current?.version ?? 0) + 1;
      const name = versionName(version);
      const meta = {
        version,
        type: info.type,
        root: relativePath(stage, info.root),
        entry: info.entry,
        args: info.args,
        name: info.name,
        permissions: info.permissions,
        files: result.files,
        bytes: result.bytes,
        deployedAt: new Date().toISOString(),
      };
      try {
        await Deno.writeTextFile(joinPath(stage, "meta.json"), JSON.stringify(meta, null, 2));
        await Deno.rename(stage, joinPath(this.#projects, name));
      } catch (error) {
        throw storageError("Cannot store project", error);
      }
      return { ...meta, root: joinPath(this.#projects, name, meta.root) };
    } catch (error) {
      await Deno.remove(stage, { recursive: true }).catch(() => {});
      await verified;
      throw storageError("Cannot store project", error);
    }
  }

  /**
   * Makes `version` current with one atomic rename, then prunes old versions. Version 0
   * is the built-in default project.
   */
  async activate(version: number): Promise<ProjectMeta> {
    if (version === 0) {
      try {
        await Deno.remove(joinPath(this.#projects, "current"));
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) {
          throw storageError("Cannot switch project", error);
        }
      }
      this.#current = undefined;
      return this.current;
    }
    const name = versionName(version);
    const meta = await this.#readMeta(name);
    const link = joinPath(this.#projects, "current");
    const temp = `${link}.tmp`;
    try {
      await Deno.writeTextFile(temp, name);
      await Deno.rename(temp, link);
    } catch (error) {
      throw storageError("Cannot switch project", error);
    }
    this.#current = meta;
    await this.#prune().catch((error) =>
      log.warn("Cannot prune old versions: {error}", { error: errorMessage(error) })
    );
    return meta;
  }

  async #readMeta(name: string): Promise<ProjectMeta> {
    const dir = joinPath(this.#projects, name);
    const meta = JSON.parse(await Deno.readTextFile(joinPath(dir, "meta.json"))) as ProjectMeta;
    // Versions stored before projects had names and permissions.
    return {
      ...meta,
      name: meta.name ?? DEFAULT_NAME,
      permissions: meta.permissions ?? {},
      root: joinPath(dir, meta.root),
    };
  }

  async #prune(): Promise<void> {
    const all = await this.versions();
    const keep = new Set(all.slice(-this.#options.keepVersions));
    if (this.#current) keep.add(this.#current.version);
    for (const version of this.#options.pinned?.() ?? []) keep.add(version);
    for (const version of all) {
      if (!keep.has(version)) {
        await Deno.remove(joinPath(this.#projects, versionName(version)), { recursive: true });
      }
    }
  }
}
