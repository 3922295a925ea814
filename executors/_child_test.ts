import assert from "node:assert/strict";
import type { Logger } from "../log.ts";
import { OutputLimit, pipeLines } from "./_child.ts";

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (message: string, properties?: Record<string, unknown>) => {
    lines.push(
      `${level} ${message.replace(/\{(\w+)\}/g, (_, name) => String(properties?.[name]))}`,
    );
  };
  return {
    lines,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
    fatal: at("fatal"),
  };
}

function streamOf(text: string): ReadableStream<Uint8Array> {
  return new Blob([text]).stream();
}

Deno.test("OutputLimit lets a burst through, then the sustained rate, and counts the rest", async () => {
  const limit = new OutputLimit({ linesPerSecond: 1000, burstLines: 3 });
  const resumed: number[] = [];
  const onResume = (dropped: number) => resumed.push(dropped);
  assert.deepEqual([1, 2, 3, 4, 5].map(() => limit.take(onResume)), [
    true,
    true,
    true,
    false,
    false,
  ]);
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(limit.take(onResume), true);
  assert.deepEqual(resumed, [2]);
  // A second flood within the second: counted, reported later, not one line per line.
  while (limit.take(onResume)) { /* drain the refilled tokens */ }
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(limit.take(onResume), true);
  assert.deepEqual(resumed, [2]);
  const reported: number[] = [];
  limit.report((dropped) => reported.push(dropped));
  assert.deepEqual(reported, [1]);
});

Deno.test("pipeLines logs every line under the limit and counts the dropped ones", async () => {
  const log = recordingLogger();
  const text = Array.from({ length: 20 }, (_, i) => `line ${i}`).join("\n") + "\n";
  await pipeLines(
    streamOf(text),
    log,
    "info",
    new OutputLimit({ linesPerSecond: 0, burstLines: 5 }),
  );
  assert.deepEqual(log.lines, [
    "info line 0",
    "info line 1",
    "info line 2",
    "info line 3",
    "info line 4",
    "warn 15 lines of output dropped: over 0 lines/s",
  ]);
});

Deno.test("pipeLines keeps a last line without a newline and cuts very long lines", async () => {
  const log = recordingLogger();
  await pipeLines(streamOf(`short\n${"y".repeat(9000)}\ntail`), log, "warn");
  assert.equal(log.lines[0], "warn short");
  assert.match(log.lines[1], /^warn y{8192}… \(9000 chars\)$/);
  assert.equal(log.lines[2], "warn tail");
});
