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
  getTextFormatter,
  type LogRecord,
  reset,
  type Sink,
  type TextFormatter,
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
  const sinks: Record<string, Sink> = { stderr: getStderrSink(getTextFormatter()) };
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

/** Characters of records waiting for stderr beyond which new ones are counted, not kept. */
const STDERR_MAX_PENDING_CHARS = 4 * 1024 * 1024;
const STDERR_FLUSH_MS = 100;

/**
 * Writes records to stderr (the journal under systemd) in batches, asynchronously, so a
 * slow reader never blocks the event loop. A timer runs only while records wait: LogTape's
 * non-blocking stream sink keeps a 100 ms interval running for good (ten wake-ups a second
 * of an idle robot's gateway) and silently drops records past 200 waiting. Here a backlog
 * past 4 MiB is dropped and counted in a line of its own.
 */
export function getStderrSink(
  formatter: TextFormatter,
  write: (bytes: Uint8Array) => Promise<number> = (bytes) => Deno.stderr.write(bytes),
): Sink & AsyncDisposable {
  const encoder = new TextEncoder();
  let pending: string[] = [];
  let pendingChars = 0;
  let dropped = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let writing: Promise<void> | undefined;

  const schedule = () => {
    timer ??= setTimeout(flush, STDERR_FLUSH_MS);
    // The timer must not keep the process alive on its own.
    Deno.unrefTimer(timer as unknown as number);
  };
  const flush = (): Promise<void> => {
    clearTimeout(timer);
    timer = undefined;
    if (writing) {
      // One write at a time: what arrives meanwhile goes out with the next one.
      schedule();
      return writing;
    }
    if (pending.length === 0 && dropped === 0) return Promise.resolve();
    if (dropped > 0) {
      pending.push(`${dropped} log records dropped: stderr was not read fast enough\n`);
    }
    const bytes = encoder.encode(pending.join(""));
    pending = [];
    pendingChars = 0;
    dropped = 0;
    writing = (async () => {
      try {
        for (let offset = 0; offset < bytes.length;) offset += await write(bytes.subarray(offset));
      } catch {
        // stderr is closed: the file sink still has every record.
      } finally {
        writing = undefined;
      }
    })();
    return writing;
  };
  const sink = (record: LogRecord) => {
    if (pendingChars > STDERR_MAX_PENDING_CHARS) {
      dropped++;
    } else {
      const line = formatter(record);
      pending.push(line);
      pendingChars += line.length;
    }
    schedule();
  };
  return Object.assign(sink, {
    async [Symbol.asyncDispose]() {
      await flush();
      await flush();
    },
  });
}

/** Flushes and closes the sinks; call last before the process exits. */
export async function shutdownLogging(): Promise<void> {
  setLogOutput(writePlainLine, "info");
  await reset();
}
