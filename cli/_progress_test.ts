import assert from "node:assert/strict";
import type { UploadProgress } from "../client/mod.ts";
import type { CliContext } from "./_command.ts";
import { describeProgress, progressReporter } from "./_progress.ts";

function context(interactive: boolean, lines: string[]): CliContext {
  return {
    version: "test",
    out: () => {},
    err: (text) => lines.push(text),
    env: () => undefined,
    interactive,
  };
}

function report(phase: UploadProgress["phase"], received: number): UploadProgress {
  return { phase, received, total: 1 << 20, bytesPerSecond: 1 << 19, etaSeconds: 1.5 };
}

Deno.test("describeProgress says bytes, rate and time left", () => {
  assert.equal(
    describeProgress(report("uploading", 1 << 19)),
    "upload  50% 512 KiB of 1.0 MiB, 512 KiB/s, ETA 2 s",
  );
  assert.match(describeProgress(report("resumed", 1 << 18)), /resumed at 256 KiB of 1.0 MiB/);
  assert.match(describeProgress(report("interrupted", 1 << 18)), /interrupted at 256 KiB/);
});

Deno.test("progressReporter prints a line per 10 % and per change of phase off a terminal", () => {
  const lines: string[] = [];
  const reporter = progressReporter(context(false, lines));
  for (let kib = 64; kib < 1024; kib += 64) reporter.update(report("uploading", kib * 1024));
  reporter.update(report("interrupted", 900 * 1024));
  reporter.update(report("deploying", 1 << 20));
  const percents = lines.filter((l) => l.startsWith("upload ") && l.includes("%"));
  assert.deepEqual(percents.map((l) => l.match(/(\d+)%/)![1]), [
    "6",
    "12",
    "25",
    "31",
    "43",
    "50",
    "62",
    "75",
    "81",
    "93",
  ]);
  assert.match(lines.at(-2)!, /interrupted/);
  assert.match(lines.at(-1)!, /deploying/);
});

Deno.test("progressReporter redraws a bar in place on a terminal", () => {
  const lines: string[] = [];
  const reporter = progressReporter(context(true, lines));
  reporter.update(report("uploading", 1 << 18));
  reporter.update(report("deploying", 1 << 20));
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^\[#{6}\.{18}\] {2}25%/);
  assert.ok(lines[1].startsWith("\x1b[1A\x1b[2K[########################] 100%"), lines[1]);
});
