import assert from "node:assert/strict";
import { join } from "node:path";
import type { LogRecord } from "@logtape/logtape";
import { getRotatingFileSink } from "./log_file_sink.ts";

function record(message: string): LogRecord {
  return {
    category: ["test"],
    level: "info",
    message: [message],
    rawMessage: message,
    timestamp: 0,
    properties: {},
  };
}

Deno.test("getRotatingFileSink appends records and rotates by size, keeping count files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "agent.log");
    const sink = getRotatingFileSink(path, {
      maxBytes: 100,
      count: 3,
      formatter: (r) => `${r.rawMessage}\n`,
    });
    for (let i = 0; i < 12; i++) sink(record(`line ${i} ${"x".repeat(30)}`));
    sink[Symbol.dispose]();
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(files, ["agent.log", "agent.log.1", "agent.log.2"]);
    for (const name of files) assert.ok(Deno.statSync(join(dir, name)).size <= 100, name);
    const newest = Deno.readTextFileSync(path);
    assert.match(newest, /line 11 /);
    assert.doesNotMatch(Deno.readTextFileSync(join(dir, "agent.log.2")), /line 0 /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("getRotatingFileSink continues an existing file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "w.log");
    Deno.writeTextFileSync(path, "earlier\n");
    const sink = getRotatingFileSink(path, {
      maxBytes: 1000,
      count: 2,
      formatter: (r) => `${r.rawMessage}\n`,
    });
    sink(record("later"));
    sink[Symbol.dispose]();
    assert.equal(Deno.readTextFileSync(path), "earlier\nlater\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
