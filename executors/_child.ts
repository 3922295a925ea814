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
 * How long output may keep coming once the process has exited. A process it started may
 * hold the pipes open for good (a `sleep 70` it left behind); its exit is reported anyway.
 */
export const DRAIN_MS = 200;

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

/** Options for {@linkcode pipeLines}. */
export interface PipeLinesOptions {
  /** The level lines are logged at; `info` by default. */
  level?: "info" | "warn";
  /** The rate limit, shared by the streams of one process. */
  limit?: OutputLimit;
  /** Stops reading: the stream is cancelled, what was read is logged. */
  signal?: AbortSignal;
}

/** Logs each line of `stream` until the stream ends or `signal` aborts; never rejects. */
export async function pipeLines(
  stream: ReadableStream<Uint8Array>,
  log: Logger,
  options: PipeLinesOptions = {},
): Promise<void> {
  const { level = "info", limit = new OutputLimit(), signal } = options;
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
    for await (const text of stream.pipeThrough(new TextDecoderStream(), { signal })) {
      const lines = (rest + text).split("\n");
      rest = lines.pop() ?? "";
      for (const line of lines) emit(line);
      if (rest.length > MAX_LINE_CHARS) {
        emit(rest);
        rest = "";
      }
    }
  } catch {
    // The child went away mid-read, or reading was stopped; what was read is logged below.
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
 * Logs a child's stdout (info) and stderr (warn) line by line and resolves with its exit:
 * once it has exited and both streams are drained, or {@linkcode DRAIN_MS} after it exited,
 * when the streams are cancelled (a process it left behind holds them). Past the output
 * rate limit, lines are dropped and counted in the log.
 */
export function watchChild(child: Deno.ChildProcess, log: Logger): Promise<ExitInfo> {
  // One budget for both streams: a flood on either is one flood.
  const limit = new OutputLimit();
  const stop = new AbortController();
  const output = Promise.all([
    pipeLines(child.stdout, log, { level: "info", limit, signal: stop.signal }),
    pipeLines(child.stderr, log, { level: "warn", limit, signal: stop.signal }),
  ]);
  return child.status.then(async (status) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => timer = setTimeout(resolve, DRAIN_MS));
    await Promise.race([output, late]);
    clearTimeout(timer);
    stop.abort();
    await output;
    return { code: status.code, signal: status.signal };
  });
}
