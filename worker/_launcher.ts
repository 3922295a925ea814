/**
 * How the worker starts a project: the executor for its type, configured.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import {
  CppExecutor,
  type Executor,
  type ExecutorHooks,
  PythonExecutor,
  type RuntimeFiles,
} from "../executors/mod.ts";
import { IPC_MAX_FRAME_BYTES } from "../ipc/mod.ts";
import { joinPath } from "../paths.ts";
import type { ProjectMeta } from "./_project_store.ts";
import { sandboxSpec } from "./_sandbox_spec.ts";

/**
 * Starts a deployed version and resolves once it runs (a Python project: imported and
 * `init()` done); rejects with an `AgentError` (`START_FAILED`) when it cannot.
 */
export type StartExecutor = (meta: ProjectMeta, hooks: ExecutorHooks) => Promise<Executor>;

/**
 * The real {@linkcode StartExecutor}: python3 through the host, C++ on its own, both
 * confined by the launcher.
 */
export function executorLauncher(config: AgentConfig, runtime: RuntimeFiles): StartExecutor {
  const runDir = joinPath(config.storage.dir, "run");
  // The launcher connects here, and a Python project's host speaks on that connection.
  const socketPath = joinPath(runDir, "project.sock");
  return async (meta, hooks) => {
    await Deno.mkdir(runDir, { recursive: true });
    const sandbox = sandboxSpec(config, meta, runtime);
    if (meta.type === "cpp") {
      return await CppExecutor.start({
        root: meta.root,
        entry: meta.entry,
        args: meta.args,
        launcher: config.python.command,
        runtime,
        sandbox,
        socketPath,
        startTimeoutS: config.python.start_timeout_s,
        stopSignal: config.cpp.stop_signal,
        stopGraceS: config.cpp.stop_grace_s,
        onExit: hooks.onExit,
      });
    }
    return await PythonExecutor.start({
      ...hooks,
      runtime,
      root: meta.root,
      socketPath,
      command: config.python.command,
      python: config.sandbox.python || config.python.command,
      sandbox,
      threads: config.python.threads,
      callTimeoutS: config.python.call_timeout_s,
      startTimeoutS: config.python.start_timeout_s,
      hardGraceS: config.python.hard_grace_s,
      hangTimeoutS: config.worker.hang_timeout_s,
      maxFrameBytes: IPC_MAX_FRAME_BYTES,
    });
  };
}
