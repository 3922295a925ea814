/**
 * What every command handler is given: {@linkcode CommandContext}, one per client message.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import type { ReplyMessage } from "../ipc/mod.ts";
import type { CallRouter } from "./_calls.ts";
import type { Clients, Connection, Identity } from "./_clients.ts";
import type { Lease } from "./_lease.ts";
import type { LogBook } from "./_logs.ts";
import type { SafetyStops } from "./_safety.ts";
import type { WorkerLink } from "./_link.ts";
import type { CommandName, CommandOf } from "./_protocol.ts";
import { type ClientId, reply, type ServerMessage } from "./_replies.ts";

/** A chunked upload in progress: who gets the deploy's outcome, and its declared size. */
export interface UploadRoute {
  id: ClientId | undefined;
  origin: Connection;
  size: number;
}

/** The gateway's parts that handlers use; one instance per gateway. */
export interface GatewayServices {
  readonly config: AgentConfig;
  readonly link: WorkerLink;
  readonly calls: CallRouter;
  readonly clients: Clients;
  readonly lease: Lease;
  readonly safety: SafetyStops;
  /** Recent log records and their followers. */
  readonly logs: LogBook;
  /** Chunked uploads by upload id (the zip's sha256). */
  readonly uploads: Map<string, UploadRoute>;
  /** The agent's version, reported by `status`. */
  readonly version: string;
  /** When the gateway started (`Date.now()`). */
  readonly startedAt: number;
}

/** The context of one client message. */
export interface CommandContext {
  /** The connection the message came on. */
  readonly connection: Connection;
  /** Who sent it. */
  readonly identity: Identity;
  /** The message's `id`, echoed in its reply. */
  readonly id: ClientId | undefined;
  /** Whether it came as a text message (a binary chunk is answered with events). */
  readonly text: boolean;
  /** The message's length in bytes. */
  readonly size: number;
  readonly services: GatewayServices;
  /** Sends a result (a reply or callback) to the connection, or holds it for its session. */
  reply(message: ServerMessage): void;
  /** Sends an event to the connection. */
  notify(event: string, data: unknown): void;
}

/**
 * Handles one command: resolves with its reply, or with nothing when it answered some
 * other way (through `ctx.reply`, or not at all for a binary chunk in mid-upload). A
 * handler that throws is answered `INTERNAL` by the caller.
 */
export type CommandHandler<K extends CommandName> = (
  ctx: CommandContext,
  command: CommandOf<K>,
) => Promise<ServerMessage | undefined>;

/** The client's reply for a worker reply, with `message` in place of the worker's on success. */
export function answer(
  res: ReplyMessage,
  id: ClientId | undefined,
  message?: string,
): ServerMessage {
  return res.ok
    ? reply("success", message ?? res.message, { id, data: res.data })
    : reply("error", res.message, { id, code: res.code, data: res.data });
}
