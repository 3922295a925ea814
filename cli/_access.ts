/**
 * The agent's access control at start-up: the token store, the operator token of a first
 * start, and the URL to connect with.
 *
 * @module
 */
import type { AgentConfig } from "../config.ts";
import { fingerprintOf, tokenDigest, TokenStore } from "../gateway/mod.ts";
import { logger } from "../log.ts";
import { joinPath as join } from "../paths.ts";
import { type CliContext, CliError } from "./_command.ts";

const log = logger("cli", "access");

/** What serving needs of access control. */
export interface Access {
  /** The identities; undefined when `auth.required` is false. */
  tokens: TokenStore | undefined;
  /** The operator token made on this first start, to be shown once. */
  firstToken: string | undefined;
}

/** Whether a listening address is reachable from this machine only. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Opens `STORAGE/auth`; on a first start with no token at all (none stored, no
 * `ROBOT_AGENT_TOKEN`) makes the operator's.
 *
 * @throws {CliError} when `auth.required` is false on an address others can reach.
 */
export async function openAccess(ctx: CliContext, config: AgentConfig): Promise<Access> {
  if (!config.auth.required) {
    if (!isLoopback(config.gateway.host)) {
      throw new CliError(
        `Invalid config: auth.required: false is accepted only when gateway.host is loopback ` +
          `(127.0.0.1, ::1 or localhost), not ${config.gateway.host}`,
      );
    }
    log.warn("auth.required is false: every local connection is an operator");
    return { tokens: undefined, firstToken: undefined };
  }
  const envToken = ctx.env("ROBOT_AGENT_TOKEN") || undefined;
  // Read once, then gone from this process's environment, which the worker and every
  // project process would otherwise inherit: deployed code must not see the operator's token.
  forgetEnvToken();
  const tokens = await TokenStore.open(join(config.storage.dir, "auth"), { envToken });
  if (envToken) {
    log.info("Operator token from ROBOT_AGENT_TOKEN: {fingerprint}", {
      fingerprint: fingerprintOf(await tokenDigest(envToken)),
    });
  }
  if (tokens.hasOperator) return { tokens, firstToken: undefined };
  const firstToken = await tokens.add("operator", "operator");
  log.info("First start: made the operator token {fingerprint}", {
    fingerprint: fingerprintOf(await tokenDigest(firstToken)),
  });
  return { tokens, firstToken };
}

function forgetEnvToken(): void {
  try {
    Deno.env.delete("ROBOT_AGENT_TOKEN");
  } catch {
    // No env permission: nothing was inherited from this process's own changes either.
  }
}

/** An address of this machine others can reach, for the URL shown at start. */
export function reachableHost(listening: string): string {
  if (listening !== "0.0.0.0" && listening !== "::") return listening;
  try {
    const external = Deno.networkInterfaces().find((i) =>
      i.family === "IPv4" && !i.address.startsWith("127.")
    );
    return external?.address ?? "127.0.0.1";
  } catch {
    return "127.0.0.1";
  }
}

/** Prints, once, the URL that carries the first start's token. */
export function announceFirstToken(
  ctx: CliContext,
  access: Access,
  address: { hostname: string; port: number },
  scheme: "ws" | "wss",
): void {
  if (!access.firstToken) return;
  const host = reachableHost(address.hostname);
  const url = `${scheme}://${host}:${address.port}/ws?token=${access.firstToken}`;
  const page = `${scheme === "wss" ? "https" : "http"}://${host}:${address.port}/`;
  ctx.out(
    `First start: the operator token is shown this once. Connect with\n  ${url}\n` +
      `or open the web console in a browser:\n  ${page}#token=${access.firstToken}\n` +
      "(robot-agent token rotate operator makes a new one; the log keeps only its fingerprint)",
  );
}
