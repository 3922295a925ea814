/**
 * The worker process: project storage, deployment and execution, behind IPC.
 *
 * {@linkcode runWorker} is the process's main loop; {@linkcode WorkerService} is what it
 * serves with, driven by messages and answering through a `send` function.
 *
 * @module
 */
export type { StartExecutor } from "./_launcher.ts";
export type { ProjectMeta } from "./_project_store.ts";
export { runWorker, type WorkerOptions } from "./_run_worker.ts";
export { WorkerService, type WorkerServiceOptions } from "./_service.ts";
