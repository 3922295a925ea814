/**
 * Watching a child process: its output becomes log lines, its exit a value.
 *
 * @module
 */
import type { Logger } from "../log.ts";

/** The longest line logged whole; longer lines are cut with a note. */
const MAX_LINE_CHARS = 8192;
/** Project output logged per second, sustained; a burst may use `OUTPUT_BURST_LINES`. */
const OUTPUT_LINES_PER_S = 2000;
const OUTPUT_BURST_LINES = 10_000;
/** While output is dropped, how often the count is logged. */
const REPORT_EVERY_MS = 1000;

/**
 * Lets a child's output through at a sustained rate, counting what it drops.
 *
 * A project printing in a tight loop would otherwise make the agent format, forward and
 * store hundreds of thousands of lines a second, holding memory and CPU the robot's calls
 * need. Blocking the project's pipe instead would stall its control code on `print`.
 */
export class OutputLimit {
  #rate: number;
  #burst: number;
  #tokens: number;
  #at = performance.now();
  #dropped = 0;
  #reportedAt = -Infinity;

  constructor(options: { linesPerSecond?: number; burstLines?: number } = {}) {
    this.#rate = options.linesPerSecond ?? OUTPUT_LINES_PER_S;
    this.#burst = options.burstLines ?? OUTPUT_BURST_LINES;
    this.#tokens = this.#burst;
  }

  /**
   * Whether one more line may be logged. When lines flow again after some were dropped,
   * `onResume` is told how many, at most once a second while the flood lasts.
   */
  take(onResume: (dropped: number) => void): boolean {
    const now = performance.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#rate / 1000);
    this.#at = now;
    if (this.#tokens < 1) {
      this.#dropped++;
      return false;
    }
    this.#tokens -= 1;
    if (this.#dropped > 0 && now - this.#reportedAt >= REPORT_EVERY_MS) {
      this.#reportedAt = now;
      onResume(this.#dropped);
      this.#dropped = 0;
    }
    return true;
  }

  /** Lines per second let through, sustained. */
  get rate(): number {
    return this.#rate;
  }

  /** Reports lines dropped and not yet reported, if any. */
  report(onDropped: (dropped: number) => void): void {
    if (this.#dropped === 0) return;
    onDropped(this.#dropped);
    this.#dropped = 0;
  }
}

/** Logs each line of `stream` at `level` until the stream ends; never rejects. */
export async function pipeLines(
  stream: ReadableStream<Uint8Array>,
  log: Logger,
  level: "info" | "warn",
  limit: OutputLimit = new OutputLimit(),
): Promise<void> {
  let rest = "";
  const reportDropped = (dropped: number) =>
    log.warn("{dropped} lines of output dropped: over {rate} lines/s", {
      dropped,
      rate: limit.rate,
    });
  const emit = (line: string) => {
    if (!limit.take(reportDropped)) return;
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
  limit.report(reportDropped);
}

/** How a child process ended. */
export interface ExitInfo {
  code: number;
  signal: Deno.Signal | null;
}

/**
 * Logs a child's stdout (info) and stderr (warn) line by line and resolves with its exit
 * once both streams are drained, so nothing is left unread. Past the output rate limit,
 * lines are dropped and counted in the log.
 */
export function watchChild(child: Deno.ChildProcess, log: Logger): Promise<ExitInfo> {
  // One budget for both streams: a flood on either is one flood.
  const limit = new OutputLimit();
  const output = Promise.all([
    pipeLines(child.stdout, log, "info", limit),
    pipeLines(child.stderr, log, "warn", limit),
  ]);
  return child.status.then(async (status) => {
    await output;
    return { code: status.code, signal: status.signal };
  });
}
