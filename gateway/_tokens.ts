/**
 * Identities and their tokens: a name, a role and a random token, kept hashed in
 * `STORAGE/auth/tokens.json` (mode 0600). A token is compared by its SHA-256 digest in
 * constant time. The file is re-read when it changes, so `robot-agent token …` takes
 * effect without a restart.
 *
 * @module
 */
import { AgentError, ErrorCode } from "../errors.ts";
import type { Identity } from "./_clients.ts";

/** The name of the identity that `ROBOT_AGENT_TOKEN` stands for. */
export const ENV_IDENTITY = "env";

/** What the file keeps of one identity: never the token itself. */
export interface StoredIdentity {
  name: string;
  role: Identity["role"];
  /** Hex SHA-256 of the token. */
  sha256: string;
  /** When the token was made (ISO 8601). */
  created: string;
}

/** What `token show` lists: no secret. */
export interface IdentityInfo {
  name: string;
  role: Identity["role"];
  fingerprint: string;
  created: string;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const encoder = new TextEncoder();

/** A new token: 192 random bits, base64url, with a prefix that says what it is. */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return `ra_${bytes.toBase64({ alphabet: "base64url", omitPadding: true })}`;
}

/** Hex SHA-256 of a token. */
export async function tokenDigest(token: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(token));
  return new Uint8Array(digest).toHex();
}

/** The short form of a digest that logs and `token show` carry. */
export function fingerprintOf(sha256: string): string {
  return sha256.slice(0, 12);
}

/** Whether two equal-length hex digests are equal, in time that does not depend on where they differ. */
function sameDigest(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return difference === 0;
}

/** Options for {@linkcode TokenStore.open}. */
export interface TokenStoreOptions {
  /** `ROBOT_AGENT_TOKEN`: an operator token for this run, named `env`, never stored. */
  envToken?: string;
}

/** The identities of one storage folder. */
export class TokenStore {
  #file: string;
  #identities: StoredIdentity[] = [];
  #envDigest: string | undefined;
  /** Which version of the file is loaded: each save is a new inode (rename). */
  #version = "";

  private constructor(file: string) {
    this.#file = file;
  }

  /** Opens (and creates, mode 0700) `dir`, reading the identities kept there. */
  static async open(dir: string, options: TokenStoreOptions = {}): Promise<TokenStore> {
    await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
    await Deno.chmod(dir, 0o700);
    const store = new TokenStore(`${dir}/tokens.json`);
    if (options.envToken) store.#envDigest = await tokenDigest(options.envToken);
    await store.#reload();
    return store;
  }

  /** Whether any token can act as an operator (stored or from the environment). */
  get hasOperator(): boolean {
    return this.#envDigest !== undefined || this.#identities.some((i) => i.role === "operator");
  }

  /** The identities, without secrets. */
  async list(): Promise<IdentityInfo[]> {
    await this.#reload();
    const stored = this.#identities.map((i) => ({
      name: i.name,
      role: i.role,
      fingerprint: fingerprintOf(i.sha256),
      created: i.created,
    }));
    if (this.#envDigest) {
      stored.unshift({
        name: ENV_IDENTITY,
        role: "operator",
        fingerprint: fingerprintOf(this.#envDigest),
        created: "(ROBOT_AGENT_TOKEN)",
      });
    }
    return stored;
  }

  /** The identity a presented token stands for, if any; every entry is compared. */
  async verify(token: string): Promise<Identity | undefined> {
    await this.#reload();
    const digest = await tokenDigest(token);
    let found: Identity | undefined;
    if (this.#envDigest && sameDigest(digest, this.#envDigest)) {
      found = { name: ENV_IDENTITY, role: "operator" };
    }
    for (const identity of this.#identities) {
      if (sameDigest(digest, identity.sha256) && !found) {
        found = { name: identity.name, role: identity.role };
      }
    }
    return found;
  }

  /**
   * Makes a new identity and returns its token, shown this once.
   *
   * @throws {AgentError} `BAD_REQUEST` for a bad or taken name.
   */
  async add(name: string, role: Identity["role"]): Promise<string> {
    await this.#reload();
    checkName(name);
    if (this.#identities.some((i) => i.name === name)) {
      throw new AgentError(
        ErrorCode.BAD_REQUEST,
        `Cannot add token: ${name} exists already; rotate or revoke it`,
      );
    }
    const token = newToken();
    const entry = { name, role, sha256: await tokenDigest(token), created: now() };
    await this.#save([...this.#identities, entry]);
    return token;
  }

  /**
   * Replaces an identity's token (making the identity if it is missing) and returns the
   * new token; the old one stops working at once.
   */
  async rotate(name: string, role: Identity["role"] = "operator"): Promise<string> {
    await this.#reload();
    checkName(name);
    const token = newToken();
    const old = this.#identities.find((i) => i.name === name);
    const entry = {
      name,
      role: old?.role ?? role,
      sha256: await tokenDigest(token),
      created: now(),
    };
    await this.#save([...this.#identities.filter((i) => i.name !== name), entry]);
    return token;
  }

  /**
   * Removes an identity; its connections are refused from their next handshake on.
   *
   * @throws {AgentError} `BAD_REQUEST` when there is no such identity.
   */
  async revoke(name: string): Promise<void> {
    await this.#reload();
    if (!this.#identities.some((i) => i.name === name)) {
      const known = this.#identities.map((i) => i.name).join(", ") || "none";
      throw new AgentError(
        ErrorCode.BAD_REQUEST,
        `Cannot revoke token: no identity ${JSON.stringify(name)} (identities: ${known})`,
      );
    }
    await this.#save(this.#identities.filter((i) => i.name !== name));
  }

  async #reload(): Promise<void> {
    let version: string;
    try {
      version = fileVersion(await Deno.stat(this.#file));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
      this.#identities = [];
      this.#version = "";
      return;
    }
    if (version === this.#version) return;
    const parsed = JSON.parse(await Deno.readTextFile(this.#file)) as { identities?: unknown };
    this.#identities = Array.isArray(parsed.identities)
      ? parsed.identities.filter(isStoredIdentity)
      : [];
    this.#version = version;
  }

  async #save(identities: StoredIdentity[]): Promise<void> {
    const temp = `${this.#file}.tmp`;
    const text = JSON.stringify({ identities }, null, 2) + "\n";
    await Deno.writeTextFile(temp, text, { mode: 0o600 });
    await Deno.chmod(temp, 0o600);
    await Deno.rename(temp, this.#file);
    this.#identities = identities;
    this.#version = fileVersion(await Deno.stat(this.#file));
  }
}

function checkName(name: string): void {
  if (!NAME_PATTERN.test(name) || name === ENV_IDENTITY) {
    throw new AgentError(
      ErrorCode.BAD_REQUEST,
      `Invalid identity name ${JSON.stringify(name)}: use 1–64 letters, digits, '.', '_' or '-' ` +
        `(and not "${ENV_IDENTITY}", which is ROBOT_AGENT_TOKEN's)`,
    );
  }
}

function isStoredIdentity(value: unknown): value is StoredIdentity {
  const v = value as Partial<StoredIdentity> | null;
  return typeof v?.name === "string" && (v.role === "operator" || v.role === "observer") &&
    typeof v.sha256 === "string" && /^[0-9a-f]{64}$/.test(v.sha256);
}

function fileVersion(info: Deno.FileInfo): string {
  return `${info.ino}:${info.mtime?.getTime()}:${info.size}`;
}

function now(): string {
  return new Date().toISOString();
}
