/**
 * The gateway's log output: LogTape, writing to stderr (the systemd journal when run as a
 * service) and to a rotating file under the storage folder. The worker's records arrive
 * over IPC and are written here too.
 *
 * @module
 */
import {
  configure,
  getLogger,
  getStreamSink,
  getTextFormatter,
  reset,
  type Sink,
} from "@logtape/logtape";
import { type LogLevel, ROOT_CATEGORY, setLogOutput, writePlainLine } from "./log.ts";
import { getRotatingFileSink } from "./log_file_sink.ts";

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
  setLogOutput((record) => {
    const logger = getLogger(record.category);
    logger[record.level](record.message, record.properties ?? {});
  }, options.level as LogLevel);
}

/** Flushes and closes the sinks; call last before the process exits. */
export async function shutdownLogging(): Promise<void> {
  setLogOutput(writePlainLine, "info");
  await reset();
}
