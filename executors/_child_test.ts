import assert from "node:assert/strict";
import type { Logger } from "../log.ts";
import { OutputLimit, pipeLines, watchChild } from "./_child.ts";

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
  await pipeLines(streamOf(text), log, {
    level: "info",
    limit: new OutputLimit({ linesPerSecond: 0, burstLines: 5 }),
  });
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
  await pipeLines(streamOf(`short\n${"y".repeat(9000)}\ntail`), log, { level: "warn" });
  assert.equal(log.lines[0], "warn short");
  assert.match(log.lines[1], /^warn y{8192}… \(9000 chars\)$/);
  assert.equal(log.lines[2], "warn tail");
});

Deno.test("watchChild reports the exit while a process the child left holds its pipes open", async () => {
  const log = recordingLogger();
  // The shell prints the sleep's pid and exits 4; the sleep keeps stdout and stderr open.
  const child = new Deno.Command("sh", {
    args: ["-c", "sleep 60 & echo $!; exit 4"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let left = 0;
  try {
    const info = await watchChild(child, log);
    assert.deepEqual(info, { code: 4, signal: null });
    left = Number(log.lines[0]?.replace(/^info /, ""));
    assert.ok(left > 0, `the sleep's pid was logged: ${log.lines}`);
    // Reported while the sleep still ran: not by the pipes closing.
    const ps = await new Deno.Command("ps", { args: ["-o", "stat=", "-p", String(left)] }).output();
    assert.match(new TextDecoder().decode(ps.stdout), /^[^Z]/, "the sleep had already ended");
  } finally {
    if (left > 0) Deno.kill(left, "SIGKILL");
  }
});
