/**
 * The worker process: project storage, deployment and execution, behind IPC.
 *
 * @module
 */
export { runWorker, type WorkerOptions } from "./_worker.ts";
