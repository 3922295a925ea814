/**
 * The gateway: the WebSocket server clients talk to, and the supervisor of the worker.
 *
 * @module
 */
export { IPC_MAX_FRAME_BYTES } from "../ipc/mod.ts";
export { CHUNK_MAGIC, encodeChunk } from "./_protocol.ts";
export {
  CLOSE_BUSY,
  CLOSE_SHUTDOWN,
  CLOSE_TOO_LARGE,
  type GatewayOptions,
  type ListenOptions,
  WsGateway,
} from "./_server.ts";
export { CLOSE_TOO_SLOW } from "./_clients.ts";
export type { WorkerLink, WorkerLinkListener, WorkerState } from "./_link.ts";
export { type SupervisorOptions, type WorkerCommand, WorkerSupervisor } from "./_supervisor.ts";
