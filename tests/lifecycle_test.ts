/**
 * End-to-end: process lifecycle — clean shutdown without orphans, worker restarts,
 * the safety stop on disconnect, and restarting on the same storage.
 */
import assert from "node:assert/strict";
import { delay, descendants, isAlive, startAgent } from "./_agent.ts";

const SLOW = `
import time

class Slow:
    def wait(self, seconds):
        time.sleep(seconds)
        return seconds

    def quick(self):
        return "quick"
`;

Deno.test("SIGTERM stops the agent cleanly: no orphan processes, sockets removed", async () => {
  const agent = await startAgent();
  try {
    const client = await agent.connect();
    assert.equal((await client.call(1, "sport_client", "StandUp")).callback.data.ok, true);
    const children = await descendants(agent.child.pid);
    // The worker (deno) and the project's python3 at least.
    assert.ok(children.length >= 2, `expected worker and python, got ${children}`);
    const closed = client.closed;
    const status = await agent.stop();
    assert.equal(status.code, 0);
    assert.equal((await closed).code, 4002);
    for (const pid of children) assert.equal(await isAlive(pid), false, `pid ${pid} survived`);
    const sockets = [...Deno.readDirSync(`${agent.storage}/run`)].filter((e) =>
      e.name.endsWith(".sock")
    );
    assert.deepEqual(sockets, []);
    const log = await Deno.readTextFile(`${agent.storage}/logs/agent.log`);
    assert.match(log, /Running the safety stop \("agent shutdown"\)/);
    // The worker has no log of its own: its records reach the gateway's file over IPC.
    assert.match(log, /\[INF\] robot-agent·worker: Worker ready: pid \d+/);
    assert.match(log, /\[INF\] robot-agent·executors·python: Python project loaded/);
  } finally {
    await Deno.remove(agent.storage, { recursive: true });
  }
});

Deno.test("a killed worker is restarted; in-flight calls get WORKER_EXITED callbacks", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  await client.deploy({ "main.py": SLOW });
  const before = await client.request({ command: "status", id: "st1" });
  const workerPid = before.data.worker.pid as number;
  const ack = await client.request({
    command: "process",
    id: "stuck",
    params: { object: "Slow", method: "wait", args: { seconds: 30 } },
  });
  assert.equal(ack.status, "success");
  const restarted = client.event("worker_restarted");
  Deno.kill(workerPid, "SIGKILL");
  const lost = await client.callback("stuck");
  assert.equal(lost.data.ok, false);
  assert.equal(lost.data.error.code, "WORKER_EXITED");
  const event = await restarted;
  assert.notEqual(event.data.pid, workerPid);
  assert.equal(event.data.restarts, 1);
  // The deployed project was started before, so it is back without a START.
  assert.equal((await client.call("q", "Slow", "quick")).callback.data.result, "quick");
  const after = await client.request({ command: "status", id: "st2" });
  assert.equal(after.data.worker.restarts, 1);
  assert.equal(after.data.worker.state, "running");
  assert.equal(after.data.project.version, 1);
});

Deno.test("disconnecting runs the safety stop: the simulated robot stops moving", async () => {
  await using agent = await startAgent();
  const first = await agent.connect();
  assert.equal((await first.call(1, "sport_client", "StandUp")).callback.data.ok, true);
  const moving = await first.call(2, "sport_client", "Move", { vx: 1, vy: 0, vyaw: 0 });
  assert.equal(moving.callback.data.result.velocity.vx, 1);
  await first.close();
  await agent.waitForLog("Running the safety stop");
  await using second = await agent.connect();
  // The safety stop runs as the previous client goes; poll briefly for its effect.
  let state: Record<string, Record<string, number>> = {};
  for (let i = 0; i < 50; i++) {
    state = (await second.call(`s${i}`, "sport_client", "GetState")).callback.data.result;
    if (state.velocity.vx === 0) break;
    await delay(20);
  }
  assert.equal(state.velocity.vx, 0);
});

Deno.test("a restarted agent keeps the deployed project and starts it again", async () => {
  const storage = await Deno.makeTempDir();
  try {
    {
      await using agent = await startAgent({ storage });
      await using client = await agent.connect();
      await client.deploy({ "main.py": SLOW });
    }
    await using agent = await startAgent({ storage });
    await using client = await agent.connect();
    assert.equal((await client.call("q", "Slow", "quick")).callback.data.result, "quick");
    const status = await client.request({ command: "status", id: "st" });
    assert.equal(status.data.project.version, 1);
  } finally {
    await Deno.remove(storage, { recursive: true });
  }
});
