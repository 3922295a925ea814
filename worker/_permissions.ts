/**
 * A project's permissions: what its manifest asks (`permissions` in `robot-agent.json`),
 * checked against `sandbox.ceiling`, and merged with `sandbox.defaults` into what it runs
 * with. The launcher (`executors/robot_agent_sandbox`) enforces them; docs/security.md says
 * how, layer by layer.
 *
 * @module
 */
import type { SandboxPermissions } from "../config.ts";
import { AgentError, ErrorCode } from "../errors.ts";
import { isWithin, normalizePath } from "../paths.ts";

/** What a manifest asks for; a key it leaves out takes `sandbox.defaults`. */
export type PermissionRequest = Partial<SandboxPermissions>;

/** One thing asked beyond the ceiling, as PERMISSION_DENIED's `data.excess` lists it. */
export interface Excess {
  permission: keyof SandboxPermissions;
  asked: string | number | boolean;
  /** What the ceiling allows: paths the asked one must lie under, a flag, a largest value. */
  ceiling: string[] | number | boolean;
  /** Why, when it is not the ceiling: the agent's storage is never granted. */
  reason?: string;
}

const PATH_KEYS = ["read", "write", "devices"] as const;
const FLAG_KEYS = ["net", "run"] as const;
const LIMIT_KEYS = ["memory_mb", "processes", "open_files"] as const;
const KEYS = new Set<string>([...PATH_KEYS, ...FLAG_KEYS, ...LIMIT_KEYS]);

/**
 * Checks a manifest's `permissions` value; `fail` throws with what is wrong.
 *
 * Paths must be absolute; they are normalized, so `/tmp/../etc` is judged as `/etc`.
 */
export function parsePermissions(
  value: unknown,
  fail: (what: string) => Error,
): PermissionRequest {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw fail("'permissions' must be an object");
  }
  const fields = value as Record<string, unknown>;
  const request: PermissionRequest = {};
  for (const [key, item] of Object.entries(fields)) {
    if (!KEYS.has(key)) {
      throw fail(`'permissions' has an unknown key '${key}' (allowed: ${[...KEYS].join(", ")})`);
    }
    if ((PATH_KEYS as readonly string[]).includes(key)) {
      if (!Array.isArray(item) || !item.every((p) => typeof p === "string" && p.startsWith("/"))) {
        throw fail(`'permissions.${key}' must be a list of absolute paths`);
      }
      request[key as typeof PATH_KEYS[number]] = item.map((p: string) =>
        p === "/" ? p : normalizePath(p).replace(/\/$/, "")
      );
    } else if ((FLAG_KEYS as readonly string[]).includes(key)) {
      if (typeof item !== "boolean") throw fail(`'permissions.${key}' must be true or false`);
      request[key as typeof FLAG_KEYS[number]] = item;
    } else {
      if (typeof item !== "number" || !Number.isInteger(item) || item < 1) {
        throw fail(`'permissions.${key}' must be a positive integer`);
      }
      request[key as typeof LIMIT_KEYS[number]] = item;
    }
  }
  return request;
}

/**
 * What `asked` wants beyond `ceiling`. A path inside the agent's `storage`, or one holding
 * it (`/`, `/var`), is always an excess: the agent's own files are never the project's.
 */
export function excessOf(
  asked: PermissionRequest,
  ceiling: SandboxPermissions,
  storage: string,
): Excess[] {
  const excess: Excess[] = [];
  for (const key of PATH_KEYS) {
    for (const path of asked[key] ?? []) {
      if (isWithin(path, storage) || isWithin(storage, path)) {
        excess.push({
          permission: key,
          asked: path,
          ceiling: ceiling[key],
          reason: "the agent's storage is never granted",
        });
      } else if (!ceiling[key].some((root) => isWithin(path, root))) {
        excess.push({ permission: key, asked: path, ceiling: ceiling[key] });
      }
    }
  }
  for (const key of FLAG_KEYS) {
    if (asked[key] === true && !ceiling[key]) {
      excess.push({ permission: key, asked: true, ceiling: false });
    }
  }
  for (const key of LIMIT_KEYS) {
    const value = asked[key];
    if (value !== undefined && value > ceiling[key]) {
      excess.push({ permission: key, asked: value, ceiling: ceiling[key] });
    }
  }
  return excess;
}

function describe(excess: Excess): string {
  if (excess.reason) return `${excess.permission} ${excess.asked} (${excess.reason})`;
  if (typeof excess.asked === "boolean") return `${excess.permission} (the ceiling says false)`;
  if (typeof excess.asked === "number") {
    return `${excess.permission} ${excess.asked} (the ceiling is ${excess.ceiling})`;
  }
  const roots = excess.ceiling as string[];
  return `${excess.permission} ${excess.asked} (outside ${
    roots.length > 0 ? roots.join(", ") : "every allowed path: none is"
  })`;
}

/**
 * Refuses a manifest asking beyond the ceiling.
 *
 * @param action what was refused, for the message: `deploy project`, `start project`.
 * @throws {AgentError} `PERMISSION_DENIED` naming each excess; `data.excess` lists them.
 */
export function admitPermissions(
  asked: PermissionRequest,
  options: { ceiling: SandboxPermissions; storage: string; action: string },
): void {
  const excess = excessOf(asked, options.ceiling, options.storage);
  if (excess.length === 0) return;
  throw new AgentError(
    ErrorCode.PERMISSION_DENIED,
    `Cannot ${options.action}: robot-agent.json asks beyond sandbox.ceiling: ${
      excess.map(describe).join("; ")
    }`,
    { data: { excess } },
  );
}

/**
 * What a project runs with: `defaults`, each key the manifest asks replaced by what it
 * asks, except paths, which it adds to the defaults'.
 */
export function effectivePermissions(
  asked: PermissionRequest,
  defaults: SandboxPermissions,
): SandboxPermissions {
  const merged = { ...defaults, ...asked };
  for (const key of PATH_KEYS) merged[key] = [...new Set([...defaults[key], ...asked[key] ?? []])];
  return merged;
}
