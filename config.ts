/**
 * The agent's configuration: loading `config.yaml` and checking it against the schema
 * (`config_schema.ts`).
 *
 * Every key is validated; unknown keys are refused, and errors name `file:line` and the
 * key so an operator editing the file on the robot can fix it in one go.
 *
 * @module
 */
import { isMap, isScalar, LineCounter, parseDocument } from "yaml";
import { dirname, isAbsolute, resolve } from "node:path";
import { type AgentConfig, CALL, type Field, LABEL, SCHEMA, TLS_FILES } from "./config_schema.ts";
import { isWithin, normalizePath } from "./paths.ts";

export {
  type AgentConfig,
  type SafetyCall,
  SANDBOX_LAYERS,
  type SandboxPermissions,
  type TlsConfig,
} from "./config_schema.ts";

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

/** What a checker is given besides the field and the value. */
interface CheckContext {
  path: string[];
  where: Locate;
  /** Throws that the value is not what was `expected`. */
  fail(expected: string): never;
}

type Checker<K extends Field["kind"]> = (
  field: Extract<Field, { kind: K }>,
  value: unknown,
  ctx: CheckContext,
) => unknown;

function checkNumber(
  field: Extract<Field, { kind: "int" | "number" }>,
  value: unknown,
  ctx: CheckContext,
): unknown {
  if (value === undefined) return field.default;
  const ok = typeof value === "number" && Number.isFinite(value) &&
    (field.kind === "number" || Number.isInteger(value));
  if (!ok || (value as number) < field.min || (value as number) > field.max) {
    ctx.fail(
      `${field.kind === "int" ? "an integer" : "a number"} from ${field.min} to ${field.max}`,
    );
  }
  return value;
}

function checkObject(
  field: Extract<Field, { kind: "object" }>,
  value: unknown,
  ctx: CheckContext,
): unknown {
  if (value === undefined || value === null) value = {};
  if (typeof value !== "object" || Array.isArray(value)) ctx.fail("a mapping");
  const source = value as Record<string, unknown>;
  for (const key of Object.keys(source)) {
    if (!(key in field.fields)) {
      const known = Object.keys(field.fields).join(", ");
      throw new ConfigError(
        `Invalid config: ${ctx.where([...ctx.path, key], true)}: ${
          [...ctx.path, key].join(".")
        }: ` +
          `unknown key (known keys here: ${known})`,
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, sub] of Object.entries(field.fields)) {
    out[key] = check(sub, source[key], [...ctx.path, key], ctx.where);
  }
  return out;
}

/** One checker per kind of field. */
const CHECKERS: { [K in Field["kind"]]: Checker<K> } = {
  int: checkNumber,
  number: checkNumber,
  string(field, value, ctx) {
    if (value === undefined && field.default !== undefined) return field.default;
    // A field whose default is "" (unset, e.g. fleet.nats_url) may be written as "".
    if (typeof value !== "string" || (value === "" && field.default !== "")) {
      ctx.fail("a non-empty string");
    }
    if (field.choices && !field.choices.includes(value as string)) {
      ctx.fail(`one of ${field.choices.join(", ")}`);
    }
    return value;
  },
  bool(field, value, ctx) {
    if (value === undefined) return field.default;
    if (typeof value !== "boolean") ctx.fail("true or false");
    return value;
  },
  strings(field, value, ctx) {
    if (value === undefined || value === null) return field.default;
    if (!Array.isArray(value) || value.some((item) => typeof item !== "string" || item === "")) {
      ctx.fail("a list of non-empty strings");
    }
    const unknown = (value as string[]).find((item) => !(field.choices?.includes(item) ?? true));
    if (unknown !== undefined) ctx.fail(`a list of ${field.choices!.join(", ")}`);
    return value;
  },
  paths(field, value, ctx) {
    if (value === undefined || value === null) return field.default;
    if (
      !Array.isArray(value) ||
      value.some((item) => typeof item !== "string" || !item.startsWith("/"))
    ) {
      ctx.fail("a list of absolute paths");
    }
    // Trailing slashes and `..` resolved, so `/tmp/../etc` is judged as `/etc`.
    return (value as string[]).map((item) =>
      item === "/" ? item : normalizePath(item).replace(/\/$/, "")
    );
  },
  tls(_field, value, ctx) {
    if (value === undefined || value === null || value === "off" || value === false) return "off";
    if (value === "auto") return "auto";
    if (typeof value === "object" && !Array.isArray(value)) {
      return check(TLS_FILES, value, ctx.path, ctx.where);
    }
    return ctx.fail("off, auto, or a mapping with cert_file and key_file");
  },
  map(_field, value, ctx) {
    if (value === undefined) return {};
    if (typeof value !== "object" || value === null || Array.isArray(value)) ctx.fail("a mapping");
    return value;
  },
  labels(_field, value, ctx) {
    if (value === undefined || value === null) return {};
    const ok = typeof value === "object" && !Array.isArray(value) &&
      Object.entries(value).every(([k, v]) => LABEL.test(k) && LABEL.test(String(v)));
    if (!ok) ctx.fail("a mapping of names to values, each of letters, digits, - and _");
    return Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, String(v)]));
  },
  calls(field, value, ctx) {
    if (value === undefined) return field.default;
    if (value === null) return [];
    if (!Array.isArray(value)) ctx.fail("a list of {object, method, args}");
    return (value as unknown[]).map((item, i) =>
      check(CALL, item, [...ctx.path, String(i)], ctx.where)
    );
  },
  object: checkObject,
};

function check(field: Field, value: unknown, path: string[], where: Locate): unknown {
  const fail = (expected: string): never => {
    throw new ConfigError(
      `Invalid config: ${where(path)}: ${path.join(".")}: expected ${expected}, got ${
        JSON.stringify(value)
      }`,
    );
  };
  const checker = CHECKERS[field.kind] as Checker<Field["kind"]>;
  return checker(field as never, value, { path, where, fail });
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
  const config = check(SCHEMA, value, [], where) as AgentConfig;
  checkSandbox(config.sandbox, where);
  return config;
}

/** What `sandbox.defaults` gives beyond `sandbox.ceiling`, as `[key, what]` pairs. */
function defaultsOverCeiling(sandbox: AgentConfig["sandbox"]): [string, string][] {
  const { defaults, ceiling } = sandbox;
  const over: [string, string][] = [];
  for (const key of ["read", "write", "devices"] as const) {
    for (const path of defaults[key]) {
      if (!ceiling[key].some((root) => isWithin(path, root))) {
        over.push([key, `${path} is outside sandbox.ceiling.${key}`]);
      }
    }
  }
  for (const key of ["net", "run"] as const) {
    if (defaults[key] && !ceiling[key]) over.push([key, "true, but sandbox.ceiling says false"]);
  }
  for (const key of ["memory_mb", "processes", "open_files"] as const) {
    if (defaults[key] > ceiling[key]) {
      over.push([key, `${defaults[key]} is over sandbox.ceiling.${key} (${ceiling[key]})`]);
    }
  }
  return over;
}

/** The checks across sandbox keys: defaults within the ceiling, a usable cgroup setting. */
function checkSandbox(sandbox: AgentConfig["sandbox"], where: Locate): void {
  const over = defaultsOverCeiling(sandbox);
  if (over.length > 0) {
    const [key, what] = over[0];
    const path = ["sandbox", "defaults", key];
    throw new ConfigError(`Invalid config: ${where(path)}: ${path.join(".")}: ${what}`);
  }
  const { cgroup } = sandbox;
  if (cgroup !== "auto" && cgroup !== "off" && !cgroup.startsWith("/")) {
    const path = ["sandbox", "cgroup"];
    throw new ConfigError(
      `Invalid config: ${where(path)}: sandbox.cgroup: expected auto, off or an absolute path, ` +
        `got ${JSON.stringify(cgroup)}`,
    );
  }
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
