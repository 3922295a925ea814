/**
 * An upload's progress on the operator's screen: a bar redrawn in place on a terminal,
 * plain lines (every 10 %, and each change of phase) otherwise.
 *
 * @module
 */
import type { UploadProgress } from "../client/mod.ts";
import type { CliContext } from "./_command.ts";
import { formatBytes, formatSeconds } from "./_format.ts";

/** Cursor up one line and clear it: the bar's previous drawing is replaced. */
const REDRAW = "\x1b[1A\x1b[2K";
const BAR_WIDTH = 24;
/** Redraws of the bar at most this often (phase changes and 100 % always). */
const REDRAW_MS = 100;

/** Takes an upload's progress reports and shows them. */
export interface ProgressReporter {
  /** Shows one report. */
  update(progress: UploadProgress): void;
}

function rate(progress: UploadProgress): string {
  if (progress.bytesPerSecond <= 0) return "";
  const eta = progress.etaSeconds === undefined || progress.phase === "deploying"
    ? ""
    : `, ETA ${formatSeconds(progress.etaSeconds)}`;
  return `, ${formatBytes(progress.bytesPerSecond)}/s${eta}`;
}

function percent(progress: UploadProgress): number {
  return Math.floor((progress.received / progress.total) * 100);
}

/** The one-line description of a report, for a plain line or beside the bar. */
export function describeProgress(progress: UploadProgress): string {
  const where = `${formatBytes(progress.received)} of ${formatBytes(progress.total)}`;
  switch (progress.phase) {
    case "resumed":
      return `upload resumed at ${where} (the robot had that part already)`;
    case "interrupted":
      return `upload interrupted at ${where}: connection lost, reconnecting`;
    case "deploying":
      return `upload complete, ${formatBytes(progress.total)}${rate(progress)}; deploying`;
    default:
      return `upload ${String(percent(progress)).padStart(3)}% ${where}${rate(progress)}`;
  }
}

/** `[#########...............]`. */
function bar(progress: UploadProgress): string {
  const filled = Math.round((progress.received / progress.total) * BAR_WIDTH);
  return `[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}]`;
}

/**
 * A reporter for `ctx`: a bar on standard error when the program runs on a terminal
 * (`ctx.interactive`), progress lines otherwise.
 */
export function progressReporter(ctx: CliContext): ProgressReporter {
  return ctx.interactive ? barReporter(ctx) : lineReporter(ctx);
}

function lineReporter(ctx: CliContext): ProgressReporter {
  let lastStep = -1;
  return {
    update(progress) {
      if (progress.phase === "uploading") {
        const step = Math.floor(percent(progress) / 10);
        if (step === lastStep) return;
        lastStep = step;
      }
      ctx.err(describeProgress(progress));
    },
  };
}

function barReporter(ctx: CliContext): ProgressReporter {
  let drawn = false;
  let lastAt = 0;
  let lastPhase: UploadProgress["phase"] | undefined;
  return {
    update(progress) {
      const now = Date.now();
      const phaseChanged = progress.phase !== lastPhase;
      if (!phaseChanged && now - lastAt < REDRAW_MS) return;
      lastAt = now;
      lastPhase = progress.phase;
      if (progress.phase === "interrupted" || progress.phase === "resumed") {
        // A line that stays: the bar is drawn again below it.
        ctx.err(`${drawn ? REDRAW : ""}${describeProgress(progress)}`);
        drawn = false;
        return;
      }
      const text = `${bar(progress)} ${String(percent(progress)).padStart(3)}%  ${
        describeProgress(progress).replace(/^upload +\d+% /, "")
      }`;
      ctx.err(`${drawn ? REDRAW : ""}${text}`);
      drawn = true;
    },
  };
}
