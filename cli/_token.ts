/**
 * `robot-agent token show|add|rotate|revoke`: the identities in `STORAGE/auth`. The agent
 * re-reads them on each handshake, so a change takes effect without a restart.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../config.ts";
import { AgentError } from "../errors.ts";
import { TokenStore } from "../gateway/mod.ts";
import { joinPath as join } from "../paths.ts";
import { type CliCommand, type CliContext, CliError, ExitCode } from "./_command.ts";

const USAGE = `Usage: robot-agent token ACTION [NAME] [options]

Manages who may connect. Tokens are kept hashed in STORAGE/auth/tokens.json; a new token is
printed once, when it is made.

Actions:
  show                 list identities: name, role, fingerprint, created
  add NAME             make an identity and print its token (--role observer|operator)
  rotate [NAME]        give NAME (default operator) a new token; the old one stops working
  revoke NAME          remove an identity; its token stops working at once

Options:
  --role ROLE          observer (status, events, logs) or operator (default: observer for add)
  --config FILE        the agent's configuration (default: ./config.yaml when present)
  --storage DIR        the agent's storage folder (storage.dir)
  --json               machine-readable output
`;

interface TokenFlags {
  role?: string;
  config?: string;
  storage?: string;
  json?: boolean;
}

function readRole(value: string | undefined, fallback: "operator" | "observer") {
  if (value === undefined) return fallback;
  if (value !== "operator" && value !== "observer") {
    throw new CliError(`--role must be operator or observer, not ${JSON.stringify(value)}`);
  }
  return value;
}

async function openStore(ctx: CliContext, flags: TokenFlags): Promise<TokenStore> {
  let storage: string;
  try {
    storage = (await loadConfig(flags.config, { storage: flags.storage })).storage.dir;
  } catch (error) {
    throw new CliError(error instanceof ConfigError ? error.message : String(error));
  }
  return await TokenStore.open(join(storage, "auth"), {
    envToken: ctx.env("ROBOT_AGENT_TOKEN") || undefined,
  });
}

async function act(ctx: CliContext, action: string, name: string | undefined, flags: TokenFlags) {
  const store = await openStore(ctx, flags);
  const need = (what: string) => {
    if (!name) throw new CliError(`token ${action} needs a NAME\n\n${USAGE}`);
    return name ?? what;
  };
  switch (action) {
    case "show": {
      const identities = await store.list();
      if (flags.json) return ctx.out(JSON.stringify(identities));
      if (identities.length === 0) {
        return ctx.out("No identities yet: the agent makes one at its first start.");
      }
      for (const i of identities) ctx.out(`${i.name}\t${i.role}\t${i.fingerprint}\t${i.created}`);
      return;
    }
    case "add":
    case "rotate": {
      const target = action === "add" ? need("") : name ?? "operator";
      const role = readRole(flags.role, action === "add" ? "observer" : "operator");
      const token = action === "add"
        ? await store.add(target, role)
        : await store.rotate(target, role);
      if (flags.json) return ctx.out(JSON.stringify({ name: target, role, token }));
      ctx.out(`${target} (${role}): ${token}\nConnect with ws://ROBOT:8000/ws?token=${token}`);
      return;
    }
    case "revoke": {
      await store.revoke(need(""));
      if (flags.json) return ctx.out(JSON.stringify({ name, revoked: true }));
      ctx.out(`${name} revoked: its token no longer opens a connection`);
      return;
    }
    default:
      throw new CliError(`unknown token action ${JSON.stringify(action)}\n\n${USAGE}`);
  }
}

/** The `token` command. */
export const tokenCommand: CliCommand = {
  name: "token",
  summary: "show, add, rotate or revoke who may connect",
  usage: USAGE,
  async run(ctx, args) {
    let parsed;
    try {
      parsed = parseArgs({
        args,
        options: {
          role: { type: "string" },
          config: { type: "string" },
          storage: { type: "string" },
          json: { type: "boolean" },
        },
        allowPositionals: true,
        strict: true,
      });
    } catch (error) {
      throw new CliError(`${error instanceof Error ? error.message : error}\n\n${USAGE}`);
    }
    const [action, name, ...extra] = parsed.positionals;
    if (!action || extra.length > 0) throw new CliError(USAGE);
    try {
      await act(ctx, action, name, parsed.values);
    } catch (error) {
      if (error instanceof AgentError) throw new CliError(error.message, ExitCode.FAILURE);
      throw error;
    }
    return ExitCode.OK;
  },
};
