/**
 * Executors run a deployed project: Python through a python3 host process, C++ as a
 * child executable. Both are an {@linkcode Executor}, which is all the worker needs.
 *
 * @module
 */
export { CppExecutor, type CppStartOptions } from "./_cpp.ts";
export type { ExitInfo } from "./_child.ts";
export type {
  CallOptions,
  CallRequest,
  Executor,
  ExecutorHooks,
  ExecutorStatus,
  SafetyAction,
} from "./_executor.ts";
export { PythonExecutor, type PythonStartOptions } from "./_python.ts";
export { installRuntime, type InstallRuntimeOptions, type RuntimeFiles } from "./_runtime.ts";
export type { SandboxSpec } from "./_sandbox.ts";
