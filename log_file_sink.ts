/**
 * A rotating log file sink for LogTape, on Deno's own file API.
 *
 * `@logtape/file` does the same but pulls in Node's `fs` layer, about 6 MB per process
 * on a robot where every megabyte counts; this is the little we need of it.
 *
 * @module
 */
import type { LogRecord, Sink, TextFormatter } from "@logtape/logtape";

/** Options for {@linkcode getRotatingFileSink}. */
export interface RotatingFileOptions {
  /** Rotate when the file would grow past this many bytes. */
  maxBytes: number;
  /** Files kept: `path`, `path.1`, … `path.(count-1)`. */
  count: number;
  formatter: TextFormatter;
  /** Flush buffered records after this many milliseconds. */
  flushIntervalMs?: number;
}

/**
 * Returns a sink that appends formatted records to `path`, buffering briefly and
 * rotating by size. Disposing it flushes and closes the file.
 */
export function getRotatingFileSink(path: string, options: RotatingFileOptions): Sink & Disposable {
  const encoder = new TextEncoder();
  let file = Deno.openSync(path, { append: true, create: true });
  let size = file.statSync().size;
  let pending: Uint8Array[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;

  const rotate = () => {
    file.close();
    for (let i = options.count - 1; i > 0; i--) {
      const from = i === 1 ? path : `${path}.${i - 1}`;
      try {
        Deno.renameSync(from, `${path}.${i}`);
      } catch {
        // Fewer files exist yet than the rotation keeps.
      }
    }
    if (options.count <= 1) Deno.truncateSync(path, 0);
    file = Deno.openSync(path, { append: true, create: true });
    size = 0;
  };

  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    for (const bytes of pending) {
      if (size > 0 && size + bytes.length > options.maxBytes) rotate();
      file.writeSync(bytes);
      size += bytes.length;
    }
    pending = [];
  };

  const sink = (record: LogRecord) => {
    pending.push(encoder.encode(options.formatter(record)));
    timer ??= setTimeout(flush, options.flushIntervalMs ?? 200);
    // The timer must not keep the process alive on its own.
    Deno.unrefTimer(timer as unknown as number);
  };
  return Object.assign(sink, {
    [Symbol.dispose]() {
      flush();
      file.close();
    },
  });
}
