import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import { getStderrSink } from "./log_setup.ts";

function record(message: string): LogRecord {
  return {
    category: ["robot-agent", "test"],
    level: "info",
    message: [message],
    rawMessage: message,
    properties: {},
    timestamp: Date.now(),
  };
}

const formatter = (r: LogRecord) => `${r.rawMessage}\n`;
const decoder = new TextDecoder();

Deno.test("getStderrSink writes records in order, in batches, and leaves no timer behind", async () => {
  const writes: string[] = [];
  const sink = getStderrSink(formatter, (bytes) => {
    writes.push(decoder.decode(bytes));
    return Promise.resolve(bytes.length);
  });
  for (let i = 0; i < 5; i++) sink(record(`line ${i}`));
  assert.deepEqual(writes, [], "records are written on the next flush, not at once");
  await new Promise((resolve) => setTimeout(resolve, 250));
  assert.deepEqual(writes, ["line 0\nline 1\nline 2\nline 3\nline 4\n"]);
  sink(record("last"));
  await sink[Symbol.asyncDispose]();
  assert.deepEqual(writes.slice(1), ["last\n"]);
  // The test sanitizer fails this test if a timer is still pending here.
});

Deno.test("getStderrSink finishes short writes and counts what a stuck stderr made it drop", async () => {
  const written: string[] = [];
  let release!: () => void;
  const stuck = new Promise<void>((resolve) => release = resolve);
  let first = true;
  const sink = getStderrSink(formatter, async (bytes) => {
    if (first) {
      first = false;
      await stuck;
    }
    // A short write: at most 1000 bytes at a time.
    const n = Math.min(bytes.length, 1000);
    written.push(decoder.decode(bytes.subarray(0, n)));
    return n;
  });
  sink(record("before"));
  await new Promise((resolve) => setTimeout(resolve, 150)); // the first write is now stuck
  const line = "x".repeat(1023);
  for (let i = 0; i < 5000; i++) sink(record(line)); // ~5 MiB: past the 4 MiB backlog
  release();
  await sink[Symbol.asyncDispose]();
  const text = written.join("");
  assert.ok(text.startsWith("before\n"));
  const kept = text.split("\n").filter((l) => l === line).length;
  const dropped = Number(/(\d+) log records dropped/.exec(text)?.[1]);
  assert.ok(kept > 4000 && kept < 5000, `kept ${kept}`);
  assert.equal(kept + dropped, 5000);
});
