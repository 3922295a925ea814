/**
 * The gateway: the WebSocket server clients talk to, and the supervisor of the worker.
 *
 * @module
 */
export { IPC_MAX_FRAME_BYTES } from "../ipc/mod.ts";
export {
  CHUNK_MAGIC,
  type ClientCommand,
  type ClientId,
  encodeChunk,
  parseBinaryMessage,
  parseTextMessage,
  ProtocolError,
  type ServerMessage,
} from "./_protocol.ts";
export {
  CLOSE_BUSY,
  CLOSE_SHUTDOWN,
  CLOSE_TOO_LARGE,
  type GatewayOptions,
  WsGateway,
} from "./_server.ts";
export {
  type SupervisorOptions,
  type WorkerCommand,
  type WorkerState,
  WorkerSupervisor,
} from "./_supervisor.ts";
