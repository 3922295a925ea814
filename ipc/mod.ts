/**
 * Inter-process communication: length-prefixed frames over Unix domain sockets.
 *
 * A frame is a 4-byte big-endian length, then a 4-byte length of its JSON object, the
 * object, and body bytes that cross as they are (a zip, a long result's JSON). The gateway
 * and the worker talk through one {@linkcode IpcChannel}, and so do the worker and each
 * Python host.
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
export * from "./_messages.ts";
export { releaseBytes } from "./_release.ts";
