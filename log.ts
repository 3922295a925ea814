/**
 * Logging set-up: one LogTape configuration per process, a category per module.
 *
 * Records go to stderr (the systemd journal when run as a service) and to a rotating
 * file under the storage folder; each process has its own file.
 *
 * @module
 */
import {
  configure,
  getLogger,
  getStreamSink,
  getTextFormatter,
  type Logger,
  reset,
  type Sink,
} from "@logtape/logtape";
import { getRotatingFileSink } from "./log_file_sink.ts";

/** The root category; every module logs under it. */
export const ROOT_CATEGORY = "robot-agent";

/** Options for {@linkcode setupLogging}. */
export interface LoggingOptions {
  level: "debug" | "info" | "warning" | "error";
  /** The rotating log file; omitted for stderr only. */
  file?: string;
  fileMaxBytes?: number;
  fileCount?: number;
}

/** Configures logging for this process; call once at start-up. */
export async function setupLogging(options: LoggingOptions): Promise<void> {
  const sinks: Record<string, Sink> = {
    stderr: getStreamSink(Deno.stderr.writable, { nonBlocking: true }),
  };
  if (options.file) {
    sinks.file = getRotatingFileSink(options.file, {
      maxBytes: options.fileMaxBytes ?? 10 * 1024 * 1024,
      count: options.fileCount ?? 5,
      formatter: getTextFormatter(),
    });
  }
  await configure({
    reset: true,
    sinks,
    loggers: [
      { category: [ROOT_CATEGORY], lowestLevel: options.level, sinks: Object.keys(sinks) },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** Flushes and closes the sinks; call last before the process exits. */
export async function shutdownLogging(): Promise<void> {
  await reset();
}

/** The logger of one module, e.g. `logger("gateway", "server")`. */
export function logger(...category: string[]): Logger {
  return getLogger([ROOT_CATEGORY, ...category]);
}
