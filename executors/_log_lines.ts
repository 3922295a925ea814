/**
 * Turns a child's output stream into log lines, reading it to the end.
 *
 * @module
 */
import type { Logger } from "@logtape/logtape";

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
