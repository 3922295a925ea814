/**
 * The TypeScript client of the robot agent: a typed {@linkcode RobotClient} over one
 * WebSocket, for Deno and browsers (it uses only `WebSocket`, `crypto.subtle` and
 * `EventTarget`).
 *
 * @example
 * ```ts
 * import { RobotClient } from "./client/mod.ts";
 *
 * await using robot = await RobotClient.connect("ws://go2:8000/ws", { token: "ra_…" });
 * const zip = await Deno.readFile("my_project.zip");
 * const deployed = await robot.deploy(zip, { onProgress: (p) => console.log(p.received) });
 * await robot.start();
 * console.log(await robot.call("arm", "wave", { times: 2 }));
 * for await (const event of robot.events({ names: ["waving"] })) console.log(event.data);
 * ```
 *
 * @module
 */
export {
  type ConnectionState,
  type ConnectOptions,
  type ReconnectOptions,
  type RequestOptions,
  RobotClient,
} from "./_client.ts";
export {
  AgentConnectionError,
  AgentRequestError,
  type ConnectionErrorCode,
  displayUrl,
} from "./_errors.ts";
export {
  BUILT_IN_IGNORES,
  folderRules,
  type IgnoreRule,
  isIgnored,
  isIgnoredFile,
  parseIgnore,
} from "./_ignore.ts";
export { ConnectionEvent, type EventIteratorOptions, RobotEvent } from "./_events.ts";
export { agentUrl, DEFAULT_PORT } from "./_socket.ts";
export type {
  AgentErrorCode,
  AgentStatus,
  CallErrorData,
  CallOutcome,
  ClientId,
  DeployResult,
  KnownCommands,
  ReplyData,
  RequestParams,
  RollbackResult,
  ServerMessage,
  StartResult,
  UploadBeginResult,
  UploadProgressEvent,
} from "./_types.ts";
export {
  CHUNK_MAGIC,
  type DeployOutcome,
  encodeChunk,
  sha256Hex,
  type UploadOptions,
  type UploadProgress,
  type UploadTransport,
  uploadZip,
} from "./_upload.ts";
