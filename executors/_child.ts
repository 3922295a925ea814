/**
 * Watching a child process: its output becomes log lines, its exit a value.
 *
 * @module
 */
import type { Logger } from "../log.ts";

/** The longest line logged whole; longer lines are cut with a note. */
const MAX_LINE_CHARS = 8192;

/** Logs each line of `stream` at `level` until the stream ends; never rejects. */
export async function pipeLines(
  stream: ReadableStream<Uint8Array>,
  log: Logger,
  level: "info" | "warn",
): Promise<void> {
  let rest = "";
  const emit = (line: string) => {
    const text = line.length > MAX_LINE_CHARS
      ? `${line.slice(0, MAX_LINE_CHARS)}… (${line.length} chars)`
      : line;
    if (level === "info") log.info("{line}", { line: text });
    else log.warn("{line}", { line: text });
  };
  try {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + text).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) emit(line);
      if (rest.length > MAX_LINE_CHARS) {
        emit(rest);
        rest = "";
      }
    }
  } catch {
    // The child went away mid-read; what was read is logged below.
  }
  if (rest) emit(rest);
}

/** How a child process ended. */
export interface ExitInfo {
  code: number;
  signal: Deno.Signal | null;
}

/**
 * Logs a child's stdout (info) and stderr (warn) line by line and resolves with its exit
 * once both streams are drained, so no output is lost or left unread.
 */
export function watchChild(child: Deno.ChildProcess, log: Logger): Promise<ExitInfo> {
  const output = Promise.all([
    pipeLines(child.stdout, log, "info"),
    pipeLines(child.stderr, log, "warn"),
  ]);
  return child.status.then(async (status) => {
    await output;
    return { code: status.code, signal: status.signal };
  });
}
