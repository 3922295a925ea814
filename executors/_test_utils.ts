/**
 * Test support for the executors: a sandbox over a temporary folder, as the worker makes
 * one (worker/_sandbox_spec.ts), and the interpreter the project's user can run.
 *
 * @module
 */
import { joinPath } from "../paths.ts";
import type { SandboxSpec } from "./_sandbox.ts";

/** Debian's python3: when tests run as root, projects run as the sandbox user, who cannot
 * run a pyenv python3 under root's 0700 home. */
const SYSTEM_PYTHON = "/usr/bin/python3";

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** The interpreter the host runs on in tests. */
export const TEST_PYTHON = Deno.uid() === 0 && isFile(SYSTEM_PYTHON) ? SYSTEM_PYTHON : "python3";

/** A sandbox with the default permissions over `storage`, executing from `exec`. */
export function testSandbox(storage: string, exec: string[]): SandboxSpec {
  const data = joinPath(storage, "data", "test");
  const tmp = joinPath(storage, "tmp", "test");
  return {
    user: "robot-agent-sandbox",
    allow_root: false,
    exec,
    read: [],
    write: [],
    devices: [],
    net: true,
    run: true,
    limits: { memory_mb: 2048, processes: 512, open_files: 4096, file_size_mb: 1024 },
    storage,
    data,
    tmp,
    cgroup: "auto",
    pretend_missing: [],
    env: { ROBOT_AGENT_DATA: data, TMPDIR: tmp },
  };
}
