/**
 * The worker process: project storage, deployment and execution, behind IPC.
 *
 * @module
 */
export { IPC_MAX_FRAME_BYTES, runWorker, type WorkerOptions } from "./_worker.ts";
