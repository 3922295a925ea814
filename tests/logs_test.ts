/** End-to-end: a project's print() output and the agent's records reach the client live. */
import assert from "node:assert/strict";
import { startAgent } from "./_agent.ts";

const PROJECT = `import sys


class Talker:
    def say(self, text):
        print("said", text)
        sys.stderr.write("warned " + text + "\\n")
        return text

    def flood(self, n):
        for i in range(n):
            print("line", i)
        return n
`;

Deno.test("logs returns recent output and follows new print() lines with version and stream", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  await client.deploy({ "main.py": PROJECT });
  await client.call(1, "Talker", "say", { text: "before" });
  await agent.waitForLog("said before");
  const recent = await client.request({
    command: "logs",
    id: "l",
    params: { source: "project", lines: 50, follow: true },
  });
  assert.equal(recent.status, "success");
  const before = recent.data.entries.find((e: { message: string }) => e.message === "said before");
  assert.ok(before, JSON.stringify(recent.data.entries));
  assert.equal(before.stream, "stdout");
  assert.equal(before.version, 1);
  const live = client.next((m) => m.event === "log" && m.data.message === "warned live");
  await client.call(2, "Talker", "say", { text: "live" });
  const entry = (await live).data;
  assert.equal(entry.stream, "stderr");
  assert.equal(entry.level, "warning");
  assert.equal(entry.source, "project");
  const stopped = await client.request({ command: "unfollow", id: "u" });
  assert.equal(stopped.data.following, false);
});

Deno.test("an observer can follow the logs, and a flood is rate-limited with the drop counted", async () => {
  await using agent = await startAgent();
  await using controller = await agent.connect();
  await controller.deploy({ "main.py": PROJECT });
  await using watcher = await agent.connect("/ws?observe=1");
  const follow = await watcher.request({
    command: "logs",
    id: "f",
    params: { follow: true, lines: 0, source: "project" },
  });
  assert.equal(follow.status, "success");
  await controller.call(1, "Talker", "flood", { n: 20000 });
  // The follower gets bursts of 2,000 and 500/s after: most of the flood is held back;
  // the next line that passes reports how many.
  const reported = watcher.event("log_dropped", 20_000);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await controller.call(2, "Talker", "say", { text: "after" });
  const dropped = (await reported).data.dropped;
  const lines = watcher.received.filter((m) => m.event === "log").length;
  assert.ok(lines >= 2000 && lines < 20000, `${lines} lines arrived`);
  assert.ok(dropped > 0);
  const bad = await watcher.request({ command: "logs", id: "b", params: { level: "loud" } });
  assert.equal(bad.code, "BAD_REQUEST");
});
