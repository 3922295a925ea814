import assert from "node:assert/strict";
import { LogBook, type LogEntry } from "./_logs.ts";

function follower() {
  const got: LogEntry[] = [];
  const dropped: number[] = [];
  return {
    got,
    dropped,
    follower: {
      send: (e: LogEntry) => got.push(e),
      dropped: (n: number) => dropped.push(n),
      alive: true,
    },
  };
}

Deno.test("LogBook tags project output with stream and version and filters by level and source", () => {
  const book = new LogBook({ version: () => 7 });
  book.push({
    level: "info",
    category: ["robot-agent", "project", "python"],
    message: "{line}",
    properties: { line: "hello" },
  });
  book.push({
    level: "warning",
    category: ["robot-agent", "project", "python"],
    message: "{line}",
    properties: { line: "oops" },
  });
  book.push({ level: "debug", category: ["robot-agent", "gateway", "server"], message: "detail" });
  const project = book.recent({ level: "info", source: "project" }, 10);
  assert.deepEqual(project.map((e) => [e.message, e.stream, e.version]), [
    ["hello", "stdout", 7],
    ["oops", "stderr", 7],
  ]);
  assert.deepEqual(book.recent({ level: "warning", source: "all" }, 10).map((e) => e.message), [
    "oops",
  ]);
  assert.deepEqual(book.recent({ level: "debug", source: "agent" }, 10).map((e) => e.category), [
    "gateway·server",
  ]);
  assert.equal(book.recent({ level: "debug", source: "all" }, 2).length, 2);
});

Deno.test("LogBook streams to followers within their rate and counts what it held back", () => {
  const book = new LogBook({ version: () => undefined, ratePerSecond: 0.001, burst: 3 });
  const { got, dropped, follower: f } = follower();
  const key = {};
  book.follow(key, { level: "info", source: "all" }, f);
  for (let i = 0; i < 10; i++) {
    book.push({ level: "info", category: ["robot-agent", "x"], message: `m${i}` });
  }
  assert.deepEqual(got.map((e) => e.message), ["m0", "m1", "m2"]);
  assert.deepEqual(dropped, []);
  assert.equal(book.unfollow(key), true);
  assert.equal(book.unfollow(key), false);
});

Deno.test("LogBook forgets followers that are gone and keeps only its capacity", () => {
  const book = new LogBook({ version: () => undefined, capacity: 5 });
  const gone = { send() {}, dropped() {}, alive: false };
  book.follow({}, { level: "info", source: "all" }, gone);
  for (let i = 0; i < 20; i++) {
    book.push({ level: "info", category: ["robot-agent", "x"], message: `m${i}` });
  }
  assert.deepEqual(book.recent({ level: "info", source: "all" }, 100).map((e) => e.message), [
    "m15",
    "m16",
    "m17",
    "m18",
    "m19",
  ]);
});
