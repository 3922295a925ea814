/**
 * Inter-process communication: length-prefixed frames over Unix domain sockets.
 *
 * The gateway and the worker talk through one {@linkcode IpcChannel} with the
 * `json+body` codec; the worker and each Python host talk with the `json` codec.
 *
 * @module
 */
export { encodeFrame, FrameReader, FrameTooLargeError, HEADER_BYTES } from "./_frame.ts";
export { IpcChannel, type IpcChannelOptions, type IpcCodec, type IpcMessage } from "./_channel.ts";
export {
  acceptOne,
  type AcceptOptions,
  connectUnix,
  listenUnix,
  removeSocketFile,
} from "./_socket.ts";
export * from "./_messages.ts";
export { releaseBytes } from "./_release.ts";
