/**
 * How the operator's subcommands print: sizes, durations, a project's objects, and JSON.
 *
 * @module
 */
import type { StartResult } from "../client/mod.ts";
import type { CliContext } from "./_command.ts";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** `1536` → `"1.5 KiB"`. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

/** `plural(1, "file")` → `"1 file"`, `plural(3, "file")` → `"3 files"`. */
export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

/** `75` → `"1 min 15 s"`. */
export function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** One line per object: `  arm: wave, wiggle`. */
export function formatObjects(objects: StartResult["objects"]): string[] {
  const entries = Object.entries(objects ?? {});
  if (entries.length === 0) return ["  (no callable objects)"];
  const width = Math.max(...entries.map(([name]) => name.length));
  return entries.map(([name, methods]) =>
    `  ${`${name}:`.padEnd(width + 1)} ${methods.join(", ") || "(no public methods)"}`
  );
}

/** What `start` and `rollback` print: the version running, then its objects. */
export function formatStarted(started: StartResult): string[] {
  const pid = started.pid === null || started.pid === undefined ? "" : `, pid ${started.pid}`;
  const lines = [`Started version ${started.version} (${started.type}, ${started.entry}${pid})`];
  if (started.objects) lines.push("Objects:", ...formatObjects(started.objects));
  return lines;
}

/** Prints `value` as indented JSON (the `--json` output). */
export function printJson(ctx: CliContext, value: unknown): void {
  ctx.out(JSON.stringify(value, null, 2));
}
