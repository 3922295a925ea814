/**
 * Logging: a category per module, records routed to this process's output.
 *
 * The gateway's output is LogTape (see {@link ./log_setup.ts}): stderr, which is the
 * systemd journal under a service, and a rotating file. The worker forwards its records
 * to the gateway over IPC, so it loads no logging library (no npm package at all: the
 * first one starts Deno's Node layer, ~8 MiB per process) and every record of the agent
 * ends up in one place. Until an output is set, records go to stderr as plain lines.
 *
 * @module
 */

/** The root category; every module logs under it. */
export const ROOT_CATEGORY = "robot-agent";

/** Levels, lowest first. */
export const LOG_LEVELS = ["debug", "info", "warning", "error", "fatal"] as const;
export type LogLevel = typeof LOG_LEVELS[number];

/** One record: `message` is a template whose `{name}` placeholders `properties` fill. */
export interface LogRecord {
  level: LogLevel;
  category: string[];
  message: string;
  properties?: Record<string, unknown>;
}

/** Where this process's records go. */
export type LogOutput = (record: LogRecord) => void;

/** The logger of one module. */
export interface Logger {
  debug(message: string, properties?: Record<string, unknown>): void;
  info(message: string, properties?: Record<string, unknown>): void;
  warn(message: string, properties?: Record<string, unknown>): void;
  error(message: string, properties?: Record<string, unknown>): void;
  fatal(message: string, properties?: Record<string, unknown>): void;
}

let output: LogOutput = writePlainLine;
let lowest = LOG_LEVELS.indexOf("info");

/** Routes this process's records from now on, dropping those below `level`. */
export function setLogOutput(next: LogOutput, level: LogLevel): void {
  output = next;
  lowest = LOG_LEVELS.indexOf(level);
}

const taps = new Set<LogOutput>();

/**
 * Also hands every record that passes the level to `tap` (the gateway's `logs` command);
 * returns the function that removes it. A tap must not log.
 */
export function addLogTap(tap: LogOutput): () => void {
  taps.add(tap);
  return () => taps.delete(tap);
}

/** Sends a record to the output, e.g. one forwarded by another process. */
export function emitLog(record: LogRecord): void {
  if (LOG_LEVELS.indexOf(record.level) < lowest) return;
  output(record);
  for (const tap of taps) tap(record);
}

/** The logger of one module, e.g. `logger("gateway", "server")`. */
export function logger(...category: string[]): Logger {
  const full = [ROOT_CATEGORY, ...category];
  const at = (level: LogLevel) => (message: string, properties?: Record<string, unknown>) =>
    emitLog({ level, category: full, message, properties });
  return {
    debug: at("debug"),
    info: at("info"),
    warn: at("warning"),
    error: at("error"),
    fatal: at("fatal"),
  };
}

const encoder = new TextEncoder();

/** Fills a record's template: `{name}` becomes the property, JSON unless a string. */
export function renderMessage(record: LogRecord): string {
  return record.message.replace(/\{([^{}]+)\}/g, (whole, name: string) => {
    if (!record.properties || !(name in record.properties)) return whole;
    const value = record.properties[name];
    return typeof value === "string" ? value : JSON.stringify(value) ?? String(value);
  });
}

/** The fallback output: one line on stderr. */
export function writePlainLine(record: LogRecord): void {
  const line = `${new Date().toISOString()} [${record.level}] ${record.category.join("·")}: ${
    renderMessage(record)
  }\n`;
  try {
    Deno.stderr.writeSync(encoder.encode(line));
  } catch {
    // stderr is gone (the parent closed it): nowhere left to report to.
  }
}
