/**
 * Inter-process communication: length-prefixed frames over Unix domain sockets.
 *
 * A frame is a 4-byte big-endian length, then a 4-byte length of its JSON object, the
 * object, and body bytes that cross as they are (a zip, a long result's JSON). The gateway
 * and the worker talk through one {@linkcode IpcChannel}, and so do the worker and each
 * Python host; {@linkcode spawnConnected} starts such a peer and waits for it to connect.
 *
 * @module
 */
export { encodeFrame, FrameReader, FrameTooLargeError, HEADER_BYTES } from "./_frame.ts";
export { IpcChannel, type IpcChannelOptions, type IpcMessage } from "./_channel.ts";
export {
  acceptOne,
  type AcceptOptions,
  connectUnix,
  listenUnix,
  removeSocketFile,
} from "./_socket.ts";
export {
  ConnectedChild,
  signalChild,
  type Signallable,
  spawnConnected,
  type SpawnConnectedOptions,
  stopChild,
  type StopChildOptions,
} from "./_spawn.ts";
export {
  type CallbackMessage,
  type CallError,
  type CallMessage,
  type CallOutcome,
  type CancelMessage,
  type Confinement,
  type ErrorReply,
  type EventMessage,
  failedOutcome,
  type GatewayMessage,
  type InitMessage,
  INLINE_JSON_LIMIT,
  IPC_MAX_FRAME_BYTES,
  type LogMessage,
  type MethodInfo,
  type OpData,
  type OpParams,
  type ParamInfo,
  type PingMessage,
  type PongMessage,
  type ProjectData,
  type ProjectDescription,
  type ProjectMessage,
  type ProjectTable,
  type ProjectType,
  type ReadyMessage,
  type ReplyMessage,
  type RequestMessage,
  type RolledBack,
  type SkippedVersion,
  type StartFailure,
  type SuccessReply,
  type UploadProgress,
  type ValueSchema,
  type VersionInfo,
  type VersionStatus,
  type WorkerMessage,
  type WorkerOp,
  type WorkerOps,
  type WorkerStatus,
} from "./_messages.ts";
export { releaseBytes } from "./_release.ts";
