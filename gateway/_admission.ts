/**
 * Who may open a WebSocket: the checks made on the handshake, before the upgrade.
 *
 * In order: an address blocked for failing too often (429); a `Host` that is not an IP
 * literal, `localhost` or `gateway.allowed_hosts` (403, DNS rebinding); an `Origin` that
 * is neither the agent's own nor in `gateway.allowed_origins` (403, a page in the
 * operator's browser); no known token (401); a `?session=` of another identity (403).
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import { ErrorCode } from "../errors.ts";
import { logger } from "../log.ts";
import { ANONYMOUS_OPERATOR, type Identity } from "./_clients.ts";
import type { PeerAddress } from "./_front_door.ts";
import type { FailureLimiter } from "./_rate_limit.ts";
import { MAX_SESSION_ID_LENGTH } from "./_sessions.ts";
import { fingerprintOf, tokenDigest, type TokenStore } from "./_tokens.ts";

const log = logger("gateway", "admission");

/** The subprotocol the agent speaks; browsers offer it beside `bearer.TOKEN`. */
export const SUBPROTOCOL = "robot-agent";
const BEARER_PROTOCOL = "bearer.";

/** A handshake that may proceed. */
export interface Admitted {
  identity: Identity;
  session: string | undefined;
  /** `?takeover=1`: take the controller's slot (after the safety stop). */
  takeover: boolean;
  /** `?observe=1`, or an observer's token: watch beside the controller. */
  observe: boolean;
  /** The subprotocol to answer with, when the client offered any. */
  protocol: string | undefined;
}

/** What admission needs from the gateway. */
export interface AdmissionContext {
  config: AgentConfig;
  /** The identities; undefined when `auth.required` is false. */
  tokens: TokenStore | undefined;
  limiter: FailureLimiter;
  /** Whether the agent serves TLS (its own origin is then https). */
  tls: boolean;
  /** The identity that created a session, if it exists. */
  sessionOwner(session: string): string | undefined;
}

/** A refusal: a JSON body in the protocol's reply shape. */
export function refusal(
  status: number,
  code: ErrorCode,
  message: string,
  headers: Record<string, string> = {},
): Response {
  const body = JSON.stringify({ status: "error", code, message, data: {} });
  return new Response(body, {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** The host name of a `Host` header, without port or IPv6 brackets, lowercased. */
export function hostName(host: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (bracketed) return bracketed[1].toLowerCase();
  return host.replace(/:\d+$/, "").toLowerCase();
}

function isIpLiteral(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || (name.includes(":") && /^[0-9a-f:.]+$/.test(name));
}

/** Whether a `Host` header names the agent in a way a rebinding page cannot. */
export function hostAllowed(host: string | null, allowed: readonly string[]): boolean {
  if (!host) return false;
  const name = hostName(host);
  if (isIpLiteral(name) || name === "localhost") return true;
  return allowed.some((entry) => {
    const pattern = entry.toLowerCase();
    return pattern.startsWith("*.") ? name.endsWith(pattern.slice(1)) : name === pattern;
  });
}

/** Whether an `Origin` is the agent's own (as reached through `host`) or allowed. */
export function originAllowed(
  origin: string,
  host: string,
  options: { tls: boolean; allowed: readonly string[] },
): boolean {
  const own = `${options.tls ? "https" : "http"}://${host.toLowerCase()}`;
  const given = origin.toLowerCase();
  return given === own || options.allowed.some((entry) => entry.toLowerCase() === given);
}

/** The token a client presented: `?token=`, `Authorization: Bearer`, or `bearer.` subprotocol. */
export function presentedToken(request: Request, url: URL): string | undefined {
  const query = url.searchParams.get("token");
  if (query) return query;
  const authorization = /^Bearer\s+(\S+)$/i.exec(request.headers.get("authorization") ?? "");
  if (authorization) return authorization[1];
  return offeredProtocols(request).find((p) => p.startsWith(BEARER_PROTOCOL))
    ?.slice(BEARER_PROTOCOL.length);
}

function offeredProtocols(request: Request): string[] {
  return (request.headers.get("sec-websocket-protocol") ?? "").split(",").map((p) => p.trim())
    .filter((p) => p !== "");
}

function chooseProtocol(request: Request): string | undefined {
  const offered = offeredProtocols(request);
  if (offered.includes(SUBPROTOCOL)) return SUBPROTOCOL;
  // A browser fails the handshake unless one offered protocol is chosen.
  return offered[0];
}

/** Checks `Host` and `Origin`; a refusal, or undefined when both are acceptable. */
export function checkPlace(request: Request, context: AdmissionContext): Response | undefined {
  const { gateway } = context.config;
  // The front door builds the request's URL from the Host header; a request made in a
  // test may carry the host in its URL alone.
  const host = request.headers.get("host") ?? new URL(request.url).host;
  if (!hostAllowed(host, gateway.allowed_hosts)) {
    return refusal(
      403,
      ErrorCode.FORBIDDEN,
      `Connection refused: Host ${JSON.stringify(host)} is not an IP address, localhost or ` +
        "in gateway.allowed_hosts",
    );
  }
  const origin = request.headers.get("origin");
  if (
    origin !== null &&
    !originAllowed(origin, host, { tls: context.tls, allowed: gateway.allowed_origins })
  ) {
    return refusal(
      403,
      ErrorCode.FORBIDDEN,
      `Connection refused: Origin ${JSON.stringify(origin)} is not the agent's own page ` +
        "or in gateway.allowed_origins",
    );
  }
  return undefined;
}

async function identify(
  token: string | undefined,
  context: AdmissionContext,
  peer: PeerAddress,
): Promise<Identity | Response> {
  if (!context.tokens) return ANONYMOUS_OPERATOR;
  const identity = token ? await context.tokens.verify(token) : undefined;
  if (identity) return identity;
  const blocked = context.limiter.fail(peer.hostname);
  log.warn("Refused a handshake from {peer}: {why}", {
    peer: peer.hostname,
    why: token ? `unknown token ${fingerprintOf(await tokenDigest(token))}` : "no token",
  });
  if (blocked) {
    log.warn("Blocking {peer} for {seconds} s: {failures} failed handshakes", {
      peer: peer.hostname,
      seconds: context.config.auth.block_s,
      failures: context.config.auth.max_failures,
    });
  }
  return refusal(
    401,
    ErrorCode.UNAUTHORIZED,
    token
      ? "Connection refused: the token is not known (rotated or revoked?)"
      : "Connection refused: a token is required: add ?token=TOKEN to the URL, or send " +
        "Authorization: Bearer TOKEN, or offer the subprotocol bearer.TOKEN",
  );
}

/** Admits a WebSocket handshake, or answers why not. */
export async function admit(
  request: Request,
  peer: PeerAddress,
  context: AdmissionContext,
): Promise<Admitted | Response> {
  const blockedMs = context.limiter.blockedFor(peer.hostname);
  if (blockedMs > 0) {
    const retry = Math.ceil(blockedMs / 1000);
    return refusal(
      429,
      ErrorCode.RATE_LIMITED,
      `Connection refused: too many failed attempts from ${peer.hostname}; retry in ${retry} s`,
      { "retry-after": String(retry) },
    );
  }
  const misplaced = checkPlace(request, context);
  if (misplaced) return misplaced;
  const url = new URL(request.url);
  const identity = await identify(presentedToken(request, url), context, peer);
  if (identity instanceof Response) return identity;
  const session = url.searchParams.get("session") ?? undefined;
  if (session !== undefined && (session === "" || session.length > MAX_SESSION_ID_LENGTH)) {
    return refusal(
      400,
      ErrorCode.BAD_REQUEST,
      `Connection refused: session must be 1 to ${MAX_SESSION_ID_LENGTH} characters`,
    );
  }
  const owner = session === undefined ? undefined : context.sessionOwner(session);
  if (owner !== undefined && owner !== identity.name) {
    return refusal(
      403,
      ErrorCode.SESSION_FORBIDDEN,
      `Connection refused: session ${JSON.stringify(session)} belongs to another identity`,
    );
  }
  const flag = (name: string) => ["1", "true", "yes"].includes(url.searchParams.get(name) ?? "");
  return {
    identity,
    session,
    takeover: flag("takeover"),
    observe: flag("observe") || identity.role === "observer",
    protocol: chooseProtocol(request),
  };
}
