/**
 * What a started project may touch: `sandbox` of the configuration and the permissions its
 * manifest asks, turned into the launcher's spec (executors/_sandbox.ts).
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import type { RuntimeFiles, SandboxSpec } from "../executors/mod.ts";
import { joinPath } from "../paths.ts";
import { admitPermissions, effectivePermissions } from "./_permissions.ts";
import type { ProjectMeta } from "./_project_store.ts";

/** The data folder of project `name`, kept across its versions: `ROBOT_AGENT_DATA`. */
/** The system's interpreters, tried when the project's user may not run python.command. */
const SYSTEM_PYTHONS = ["/usr/bin/python3", "/usr/local/bin/python3"];

export function dataFolder(storage: string, name: string): string {
  return joinPath(storage, "data", name);
}

/**
 * The launcher's spec for `meta`. The ceiling is checked again: it may have been lowered
 * since the version was deployed.
 *
 * @throws {AgentError} `PERMISSION_DENIED` when the manifest asks beyond `sandbox.ceiling`.
 */
export function sandboxSpec(
  config: AgentConfig,
  meta: ProjectMeta,
  runtime: RuntimeFiles,
): SandboxSpec {
  const storage = config.storage.dir;
  const sandbox = config.sandbox;
  admitPermissions(meta.permissions, {
    ceiling: sandbox.ceiling,
    storage,
    action: `start version ${meta.version}`,
  });
  const granted = effectivePermissions(meta.permissions, sandbox.defaults);
  const data = dataFolder(storage, meta.name);
  const tmp = joinPath(storage, "tmp", meta.name);
  return {
    user: sandbox.user,
    allow_root: sandbox.allow_root,
    // A Python project runs in the host, from the runtime folder; a C++ one on its own.
    exec: meta.type === "python" ? [runtime.hostPath, meta.root] : [meta.root],
    read: granted.read,
    write: granted.write,
    devices: granted.devices,
    net: granted.net,
    run: granted.run,
    limits: {
      memory_mb: granted.memory_mb,
      processes: granted.processes,
      open_files: granted.open_files,
      file_size_mb: sandbox.file_size_mb,
    },
    storage,
    data,
    tmp,
    cgroup: sandbox.cgroup,
    pretend_missing: sandbox.pretend_missing,
    env: { ROBOT_AGENT_DATA: data, TMPDIR: tmp },
    exec_hint: meta.type === "python"
      ? `set sandbox.python to an interpreter ${sandbox.user} can run, e.g. /usr/bin/python3`
      : undefined,
    // sandbox.python unset: python.command, or, when the project's user may not run it (a
    // version manager's under a private home), the system's.
    ...(meta.type === "python" && !sandbox.python ? { exec_fallbacks: SYSTEM_PYTHONS } : {}),
  };
}
