/**
 * End-to-end: a Python process that stops answering is noticed and replaced, and calls
 * that find the process dead share one restart (docs/reliability.md).
 */
import assert from "node:assert/strict";
import { startAgent } from "./_agent.ts";

const PROJECT = `
import os
import time


class P:
    def pid(self):
        return os.getpid()

    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds

    def die(self):
        os._exit(3)
`;

Deno.test("a stopped Python process gets HUNG callbacks for its calls and the next call revives it", async () => {
  // Good at once: a crash in probation would bring back the previous version instead.
  await using agent = await startAgent({
    config: "worker:\n  hang_timeout_s: 1\nlifecycle:\n  probation_s: 0\n",
  });
  await using client = await agent.connect();
  await client.deploy({ "main.py": PROJECT });
  const pid = (await client.call("pid", "P", "pid")).callback.data.result as number;
  const ack = await client.request({
    command: "process",
    id: "held",
    params: { object: "P", method: "sleep", args: { seconds: 30 } },
  });
  assert.equal(ack.status, "success");
  const exited = client.event("project_exited");
  Deno.kill(pid, "SIGSTOP");
  try {
    const held = await client.callback("held");
    assert.equal(held.data.error.code, "HUNG");
    assert.match(
      held.data.error.message,
      /did not answer its heartbeat for [\d.]+ s and was killed/,
    );
    assert.match(held.data.error.message, /the next call restarts it/);
    const exit = (await exited).data;
    assert.equal(exit.signal, "SIGKILL");
    assert.equal(exit.hung, true);
  } finally {
    // Killed already unless the test failed first; a stopped process must not outlive it.
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Gone.
    }
  }
  const revived = await client.call("again", "P", "pid");
  assert.equal(revived.callback.data.ok, true);
  assert.notEqual(revived.callback.data.result, pid);
  await agent.waitForLog(/Python project hung: "?the Python process \(pid \d+\) did not answer/);
});

Deno.test("five calls sent right after the Python process died all succeed through one restart", async () => {
  await using agent = await startAgent({ config: "lifecycle:\n  probation_s: 0\n" });
  await using client = await agent.connect();
  await client.deploy({ "main.py": PROJECT });
  const exited = client.event("project_exited");
  const died = await client.call("die", "P", "die");
  assert.equal(died.callback.data.error.code, "EXECUTOR_EXITED");
  await exited;
  const ids = [1, 2, 3, 4, 5].map((n) => `after-${n}`);
  const callbacks = ids.map((id) => client.callback(id));
  for (const id of ids) {
    client.send({ command: "process", id, params: { object: "P", method: "pid", args: {} } });
  }
  const outcomes = await Promise.all(callbacks);
  for (const outcome of outcomes) assert.equal(outcome.data.ok, true, outcome.data.error?.message);
  const pids = new Set(outcomes.map((outcome) => outcome.data.result));
  assert.equal(pids.size, 1, "every call ran in the one restarted process");
  // The log is written in batches: wait for the line, and a moment for any second one.
  await agent.waitForLog(/Restarting the exited "?python"? project/);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const restarts = agent.log.match(/Restarting the exited "?python"? project/g) ?? [];
  assert.equal(restarts.length, 1);
});
