/**
 * End-to-end: versions that know they are good. Probation, rollback to the newest good
 * version, auto-rollback after a failed start or a crash in probation, and pruning that
 * never removes the newest good version, through a real agent, worker and python3.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Client, makeZip, type Message, startAgent } from "./_agent.ts";

const GOOD = `
import os


class V:
    def v(self):
        return "good"

    def pid(self):
        return os.getpid()
`;

/** Three ways a deploy fails to start, each with where it fails. */
const BROKEN: { source: string; type: string; line: number }[] = [
  { source: "import os\nimport numpyy\n", type: "ModuleNotFoundError", line: 2 },
  { source: "x = 1\ndef broken(:\n    pass\n", type: "SyntaxError", line: 2 },
  {
    source: "def init():\n    raise RuntimeError('arm not calibrated')\n",
    type: "RuntimeError",
    line: 2,
  },
];

const CRASHES_SOON = `
import os
import threading


def init():
    threading.Timer(0.3, lambda: os._exit(1)).start()


class V:
    def v(self):
        return "crashes"
`;

async function update(client: Client, source: string, id: string): Promise<Message> {
  const zip = await makeZip({ "main.py": source });
  const reply = await client.request({ command: "update", id, data: zip.toBase64() });
  assert.equal(reply.status, "success", reply.message);
  return reply;
}

Deno.test("rollback after three broken deploys lands on the last good version and says which", async () => {
  await using agent = await startAgent({
    config: "lifecycle:\n  probation_s: 0.2\n  auto_rollback: false\n",
  });
  await using client = await agent.connect();
  await client.deploy({ "main.py": GOOD });
  await agent.waitForLog("Version 1 is good");
  for (const [index, broken] of BROKEN.entries()) {
    const version = index + 2;
    await update(client, broken.source, `u${version}`);
    const started = await client.request({ command: "start", id: `s${version}` });
    assert.equal(started.code, "START_FAILED", started.message);
    assert.equal(started.data.type, broken.type);
    assert.equal(started.data.file, "main.py");
    assert.equal(started.data.line, broken.line);
    assert.match(started.data.traceback, /main\.py", line 2/);
    assert.match(started.message, new RegExp(`${broken.type}.*\\(main\\.py:2\\)`));
    // The agent's log has the traceback too.
    await agent.waitForLog(new RegExp(`Cannot start version ${version}: [^\\n]*${broken.type}`));
  }
  await agent.waitForLog(/Traceback \(most recent call last\)[\s\S]*arm not calibrated/);
  const back = await client.request({ command: "rollback", id: "back" });
  assert.equal(back.status, "success", back.message);
  assert.equal(back.data.version, 1);
  assert.equal(back.data.rolled_back_from, 4);
  assert.deepEqual(back.data.skipped.map((s: Message) => [s.version, s.status]), [
    [3, "failed"],
    [2, "failed"],
  ]);
  assert.match(back.message, /to version 1: the newest good version before 4/);
  assert.equal((await client.call("v", "V", "v")).callback.data.result, "good");
});

Deno.test("keep_versions never removes the newest good version from disk", async () => {
  await using agent = await startAgent({
    config: "storage:\n  keep_versions: 2\nlifecycle:\n  probation_s: 0.2\n" +
      "  auto_rollback: false\n",
  });
  await using client = await agent.connect();
  await client.deploy({ "main.py": GOOD });
  await agent.waitForLog("Version 1 is good");
  for (let version = 2; version <= 5; version++) {
    await update(client, BROKEN[0].source, `u${version}`);
  }
  const kept = [...Deno.readDirSync(join(agent.storage, "projects"))]
    .filter((entry) => entry.isDirectory).map((entry) => entry.name).sort();
  assert.deepEqual(kept, ["v000001", "v000004", "v000005"]);
  const back = await client.request({ command: "rollback", id: "back" });
  assert.equal(back.data.version, 1, back.message);
  assert.equal((await client.call("v", "V", "v")).callback.data.result, "good");
});

Deno.test("a failed START is answered START_FAILED and the last good version runs again", async () => {
  await using agent = await startAgent({ config: "lifecycle:\n  probation_s: 0.2\n" });
  await using client = await agent.connect();
  await client.deploy({ "main.py": GOOD });
  await agent.waitForLog("Version 1 is good");
  await update(client, BROKEN[0].source, "u2");
  const rolledBack = client.event("rolled_back");
  const started = await client.request({ command: "start", id: "s2" });
  assert.equal(started.code, "START_FAILED");
  assert.deepEqual(started.data.rolled_back, (await rolledBack).data);
  assert.equal(started.data.rolled_back.from, 2);
  assert.equal(started.data.rolled_back.to, 1);
  assert.match(started.data.rolled_back.reason, /failed to start: .*ModuleNotFoundError/);
  assert.match(started.message, /rolled back to version 1$/);
  assert.equal((await client.call("v", "V", "v")).callback.data.result, "good");
  const status = await client.request({ command: "status", id: "st" });
  assert.equal(status.data.project.version, 1);
  assert.equal(status.data.project.state, "running");
});

Deno.test("a version that crashes in its probation is replaced by the last good one", async () => {
  await using agent = await startAgent({ config: "lifecycle:\n  probation_s: 1\n" });
  await using client = await agent.connect();
  await client.deploy({ "main.py": GOOD });
  await agent.waitForLog("Version 1 is good");
  const exited = client.event("project_exited");
  const rolledBack = client.event("rolled_back");
  await client.deploy({ "main.py": CRASHES_SOON });
  assert.equal((await exited).data.version, 2);
  const event = await rolledBack;
  assert.equal(event.data.from, 2);
  assert.equal(event.data.to, 1);
  assert.match(
    event.data.reason,
    /crashed during probation, [\d.]+ s after its start \(exit code 1\)/,
  );
  assert.equal((await client.call("v", "V", "v")).callback.data.result, "good");
  const status = await client.request({ command: "status", id: "st" });
  assert.equal(status.data.project.version, 1);
  assert.equal(status.data.project.last_exit, null, "the crash was another version's");
});

Deno.test("a project whose ready() returns a false value fails its START and is rolled back", async () => {
  await using agent = await startAgent({ config: "lifecycle:\n  probation_s: 0.2\n" });
  await using client = await agent.connect();
  await client.deploy({ "main.py": `${GOOD}\n\ndef ready():\n    return True\n` });
  await agent.waitForLog("Version 1 is good");
  await update(client, "def ready():\n    return False\n", "u2");
  const started = await client.request({ command: "start", id: "s2" });
  assert.equal(started.code, "START_FAILED");
  assert.equal(started.data.type, "NotReady");
  assert.match(started.message, /ready\(\) returned a false value; rolled back to version 1$/);
  assert.equal((await client.call("v", "V", "v")).callback.data.result, "good");
});
