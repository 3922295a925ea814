/**
 * The agent's configuration: its schema, defaults, and loading from `config.yaml`.
 *
 * Every key is validated; unknown keys are refused, and errors name `file:line` and the
 * key so an operator editing the file on the robot can fix it in one go.
 *
 * @module
 */
import { isMap, isScalar, LineCounter, parseDocument } from "yaml";
import { dirname, isAbsolute, resolve } from "node:path";

type Field =
  | { kind: "int"; default: number; min: number; max: number }
  | { kind: "number"; default: number; min: number; max: number }
  | { kind: "string"; default?: string; choices?: readonly string[] }
  | { kind: "map" }
  | { kind: "strings"; default: string[] }
  | { kind: "bool"; default: boolean }
  | { kind: "tls" }
  | { kind: "object"; fields: Record<string, Field> }
  | { kind: "calls"; default: SafetyCall[] };

/** A call the agent makes on its own, e.g. the safety stop's `sport_client.StopMove`. */
export interface SafetyCall {
  object: string;
  method: string;
  args: Record<string, unknown>;
}

function int(value: number, min: number, max: number): Field {
  return { kind: "int", default: value, min, max };
}

function num(value: number, min: number, max: number): Field {
  return { kind: "number", default: value, min, max };
}

function str(value: string | undefined, choices?: readonly string[]): Field {
  return { kind: "string", default: value, choices };
}

const MIB = 1024 * 1024;

/** How the gateway serves TLS: not at all, a certificate it makes itself, or given files. */
export type TlsConfig = "off" | "auto" | { cert_file: string; key_file: string };

const TLS_FILES: Field = {
  kind: "object",
  fields: { cert_file: str(undefined), key_file: str(undefined) },
};

/** One entry of `safety.on_disconnect`. */
const CALL: Field = {
  kind: "object",
  fields: { object: str(undefined), method: str(undefined), args: { kind: "map" } },
};

/** The schema; `config.yaml` documents each key. */
const SCHEMA: Field = {
  kind: "object",
  fields: {
    gateway: {
      kind: "object",
      fields: {
        host: str("0.0.0.0"),
        port: int(8000, 0, 65535),
        max_message_bytes: int(64 * MIB, 1024, 64 * MIB),
        idle_timeout_s: num(15, 1, 3600),
        max_buffered_bytes: int(16 * MIB, 64 * 1024, 1024 * MIB),
        event_buffered_bytes: int(1 * MIB, 0, 1024 * MIB),
        session_max_results: int(1000, 0, 1_000_000),
        session_max_age_s: num(600, 1, 7 * 86_400),
        session_max_bytes: int(64 * MIB, 0, 4096 * MIB),
        allowed_origins: { kind: "strings", default: [] },
        allowed_hosts: { kind: "strings", default: [] },
        tls: { kind: "tls" },
        max_observers: int(8, 0, 1000),
        header_timeout_s: num(10, 0.1, 600),
        max_unauthenticated: int(32, 1, 100_000),
        max_unauthenticated_per_address: int(8, 1, 100_000),
        max_connections: int(512, 4, 1_000_000),
      },
    },
    auth: {
      kind: "object",
      fields: {
        required: { kind: "bool", default: true },
        max_failures: int(10, 1, 1_000_000),
        failure_window_s: num(60, 1, 86_400),
        block_s: num(60, 1, 86_400),
      },
    },
    storage: {
      kind: "object",
      fields: { dir: str("./storage"), keep_versions: int(3, 1, 100) },
    },
    log: {
      kind: "object",
      fields: {
        level: str("info", ["debug", "info", "warning", "error"]),
        file_max_bytes: int(10 * MIB, 4096, 1024 * MIB),
        file_count: int(5, 1, 100),
      },
    },
    worker: {
      kind: "object",
      fields: {
        start_timeout_s: num(20, 1, 600),
        restart_delay_ms: int(50, 0, 60_000),
        restart_max_delay_ms: int(5000, 0, 600_000),
        crash_loop_restarts: int(5, 1, 1000),
        crash_loop_window_s: num(60, 1, 3600),
        hang_timeout_s: num(5, 0.5, 600),
      },
    },
    zip: {
      kind: "object",
      fields: {
        max_entries: int(10_000, 1, 10_000_000),
        max_uncompressed_bytes: int(1024 * MIB, 1024, Number.MAX_SAFE_INTEGER),
        max_ratio: num(200, 1, 1_000_000),
      },
    },
    upload: {
      kind: "object",
      fields: {
        max_bytes: int(2048 * MIB, 1024, Number.MAX_SAFE_INTEGER),
        max_chunk_bytes: int(8 * MIB, 1024, 48 * MIB),
        max_in_progress: int(4, 1, 1000),
        stale_s: num(86_400, 1, 365 * 86_400),
      },
    },
    python: {
      kind: "object",
      fields: {
        command: str("python3"),
        threads: int(8, 1, 256),
        call_timeout_s: num(300, 0.001, 86_400),
        start_timeout_s: num(30, 1, 600),
        hard_grace_s: num(10, 0.1, 3600),
      },
    },
    cpp: {
      kind: "object",
      fields: {
        stop_signal: str("SIGTERM", ["SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2"]),
        stop_grace_s: num(3, 0, 600),
      },
    },
    safety: {
      kind: "object",
      fields: {
        on_disconnect: {
          kind: "calls",
          default: [{ object: "sport_client", method: "StopMove", args: {} }],
        },
        link_timeout_ms: int(500, 100, 60_000),
      },
    },
  },
};

/** The validated configuration, with every default filled in. */
export interface AgentConfig {
  gateway: {
    host: string;
    port: number;
    max_message_bytes: number;
    idle_timeout_s: number;
    max_buffered_bytes: number;
    event_buffered_bytes: number;
    session_max_results: number;
    session_max_age_s: number;
    session_max_bytes: number;
    allowed_origins: string[];
    allowed_hosts: string[];
    tls: TlsConfig;
    max_observers: number;
    header_timeout_s: number;
    max_unauthenticated: number;
    max_unauthenticated_per_address: number;
    max_connections: number;
  };
  auth: {
    /** Whether connections must present a token; false only when listening on loopback. */
    required: boolean;
    max_failures: number;
    failure_window_s: number;
    block_s: number;
  };
  storage: { dir: string; keep_versions: number };
  log: {
    level: "debug" | "info" | "warning" | "error";
    file_max_bytes: number;
    file_count: number;
  };
  worker: {
    start_timeout_s: number;
    restart_delay_ms: number;
    restart_max_delay_ms: number;
    crash_loop_restarts: number;
    crash_loop_window_s: number;
    hang_timeout_s: number;
  };
  zip: { max_entries: number; max_uncompressed_bytes: number; max_ratio: number };
  upload: { max_bytes: number; max_chunk_bytes: number; max_in_progress: number; stale_s: number };
  python: {
    command: string;
    threads: number;
    call_timeout_s: number;
    start_timeout_s: number;
    hard_grace_s: number;
  };
  cpp: { stop_signal: Deno.Signal; stop_grace_s: number };
  safety: {
    on_disconnect: SafetyCall[];
    /**
     * A controller silent this long (no frame, no pong) is taken for a lost link: the
     * safety stop runs; its slot is kept for it for `gateway.idle_timeout_s`.
     */
    link_timeout_ms: number;
  };
}

/** Overrides from the command line; they win over the file. */
export interface ConfigOverrides {
  host?: string;
  port?: number;
  storage?: string;
  idleTimeoutS?: number;
}

/** Thrown for an unreadable or invalid configuration; the message names file:line and key. */
export class ConfigError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/** Where a value sits in the source file, for error messages. */
type Locate = (path: readonly string[], key?: boolean) => string;

function check(field: Field, value: unknown, path: string[], where: Locate): unknown {
  const name = path.join(".");
  const fail = (expected: string): never => {
    throw new ConfigError(
      `Invalid config: ${where(path)}: ${name}: expected ${expected}, got ${JSON.stringify(value)}`,
    );
  };
  switch (field.kind) {
    case "int":
    case "number": {
      if (value === undefined) return field.default;
      const ok = typeof value === "number" && Number.isFinite(value) &&
        (field.kind === "number" || Number.isInteger(value));
      if (!ok || (value as number) < field.min || (value as number) > field.max) {
        fail(
          `${field.kind === "int" ? "an integer" : "a number"} from ${field.min} to ${field.max}`,
        );
      }
      return value;
    }
    case "string": {
      if (value === undefined && field.default !== undefined) return field.default;
      if (typeof value !== "string" || value === "") fail("a non-empty string");
      if (field.choices && !field.choices.includes(value as string)) {
        fail(`one of ${field.choices.join(", ")}`);
      }
      return value;
    }
    case "bool": {
      if (value === undefined) return field.default;
      if (typeof value !== "boolean") fail("true or false");
      return value;
    }
    case "strings": {
      if (value === undefined || value === null) return field.default;
      if (!Array.isArray(value) || value.some((item) => typeof item !== "string" || item === "")) {
        fail("a list of non-empty strings");
      }
      return value;
    }
    case "tls": {
      if (value === undefined || value === null || value === "off" || value === false) return "off";
      if (value === "auto") return "auto";
      if (typeof value === "object" && !Array.isArray(value)) {
        return check(TLS_FILES, value, path, where);
      }
      fail("off, auto, or a mapping with cert_file and key_file");
      return undefined;
    }
    case "map": {
      if (value === undefined) return {};
      if (typeof value !== "object" || value === null || Array.isArray(value)) fail("a mapping");
      return value;
    }
    case "calls": {
      if (value === undefined) return field.default;
      if (value === null) return [];
      if (!Array.isArray(value)) fail("a list of {object, method, args}");
      return (value as unknown[]).map((item, i) => check(CALL, item, [...path, String(i)], where));
    }
    case "object": {
      if (value === undefined || value === null) value = {};
      if (typeof value !== "object" || Array.isArray(value)) fail("a mapping");
      const source = value as Record<string, unknown>;
      for (const key of Object.keys(source)) {
        if (!(key in field.fields)) {
          const known = Object.keys(field.fields).join(", ");
          throw new ConfigError(
            `Invalid config: ${where([...path, key], true)}: ${[...path, key].join(".")}: ` +
              `unknown key (known keys here: ${known})`,
          );
        }
      }
      const out: Record<string, unknown> = {};
      for (const [key, sub] of Object.entries(field.fields)) {
        out[key] = check(sub, source[key], [...path, key], where);
      }
      return out;
    }
  }
}

/**
 * Validates a configuration object (as parsed from YAML) and fills in defaults.
 *
 * @param source the file name used in error messages.
 * @throws {ConfigError} naming the key and, when known, the line.
 */
export function validateConfig(
  value: unknown,
  options: { source?: string; locate?: Locate } = {},
): AgentConfig {
  const where = options.locate ?? (() => options.source ?? "config");
  return check(SCHEMA, value, [], where) as AgentConfig;
}

/** Parses and validates YAML text; `file` names it in error messages. */
export function parseConfig(text: string, file = "config.yaml"): AgentConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const error = doc.errors[0];
    const line = error.linePos?.[0].line ?? 1;
    throw new ConfigError(`Invalid config: ${file}:${line}: ${error.message.split("\n")[0]}`);
  }
  const locate: Locate = (path, key) => {
    let node: unknown = doc.contents;
    let offset: number | undefined;
    for (const part of path) {
      if (!isMap(node)) break;
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === part);
      if (!pair) break;
      const target = key ? pair.key : (pair.value ?? pair.key);
      offset = (target as { range?: [number, number] }).range?.[0] ??
        (pair.key as { range?: [number, number] }).range?.[0];
      node = pair.value;
    }
    return offset === undefined ? file : `${file}:${lineCounter.linePos(offset).line}`;
  };
  return validateConfig(doc.toJS() ?? {}, { source: file, locate });
}

/**
 * Loads the configuration: the file if given (or `./config.yaml` if present), then
 * command-line overrides. A relative `storage.dir` in a file is relative to that file.
 */
export async function loadConfig(
  file: string | undefined,
  overrides: ConfigOverrides = {},
): Promise<AgentConfig> {
  let path = file;
  if (path === undefined) {
    try {
      await Deno.stat("config.yaml");
      path = "config.yaml";
    } catch {
      path = undefined;
    }
  }
  let config: AgentConfig;
  if (path === undefined) {
    config = validateConfig({});
    config.storage.dir = resolve(config.storage.dir);
  } else {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (error) {
      throw new ConfigError(
        `Cannot read config: ${path}: ${error instanceof Error ? error.message : error}`,
      );
    }
    config = parseConfig(text, path);
    if (!isAbsolute(config.storage.dir)) {
      config.storage.dir = resolve(dirname(resolve(path)), config.storage.dir);
    }
  }
  if (overrides.host !== undefined) config.gateway.host = overrides.host;
  if (overrides.port !== undefined) config.gateway.port = overrides.port;
  if (overrides.storage !== undefined) config.storage.dir = resolve(overrides.storage);
  if (overrides.idleTimeoutS !== undefined) config.gateway.idle_timeout_s = overrides.idleTimeoutS;
  return config;
}
