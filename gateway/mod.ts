/**
 * The gateway: the WebSocket server clients talk to, and the supervisor of the worker.
 *
 * @module
 */
export { IPC_MAX_FRAME_BYTES } from "../ipc/mod.ts";
export { SUBPROTOCOL } from "./_admission.ts";
export { type Identity } from "./_clients.ts";
export { CHUNK_MAGIC, encodeChunk } from "./_protocol.ts";
export { CLOSE_TAKEN_OVER } from "./_lease.ts";
export {
  CLOSE_BUSY,
  CLOSE_SHUTDOWN,
  CLOSE_TOO_LARGE,
  type GatewayOptions,
  WsGateway,
} from "./_server.ts";
export { CLOSE_TOO_SLOW } from "./_clients.ts";
export type { WorkerLink, WorkerLinkListener, WorkerState } from "./_link.ts";
export { type VirtualPeer, VirtualSocket } from "./_virtual.ts";
export { certificateFingerprint, loadCertificate, type TlsCertificate } from "./_tls.ts";
export { type SupervisorOptions, type WorkerCommand, WorkerSupervisor } from "./_supervisor.ts";
export {
  ENV_IDENTITY,
  fingerprintOf,
  type IdentityInfo,
  newToken,
  tokenDigest,
  TokenStore,
} from "./_tokens.ts";
