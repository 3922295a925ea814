/**
 * End-to-end: the robot stops when the link goes dark, on e-stop, and when the worker
 * hangs; calls carry their own timeouts and ids that must be unique while in flight.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Client, startAgent } from "./_agent.ts";

/** A client in its own process, to be stopped with SIGSTOP: a link that goes dark. */
const DARK_CLIENT = `
const socket = new WebSocket(Deno.args[0]);
socket.onopen = () => socket.send(JSON.stringify({
  command: "process", id: "go", params: { object: "sport_client", method: "Move", args: { vx: 0.5, vy: 0, vyaw: 0 } },
}));
socket.onmessage = (event) => {
  const message = JSON.parse(event.data);
  if (message.status === "callback" && message.id === "go") console.log("moving");
};
`;

async function velocity(client: Client, id: string): Promise<number> {
  const { callback } = await client.call(id, "sport_client", "GetState");
  return callback.data.result.velocity.vx;
}

Deno.test("a controller whose link goes dark stops the robot, and is told why when it is back", async () => {
  await using agent = await startAgent({ config: "safety:\n  link_timeout_ms: 400\n" });
  const script = join(agent.storage, "dark_client.ts");
  await Deno.writeTextFile(script, DARK_CLIENT);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, agent.url],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    assert.match((await reader.read()).value ?? "", /moving/);
    child.kill("SIGSTOP");
    await agent.waitForLog(/Running the safety stop \(.?link lost/, 5000);
    // Another identity cannot take the kept slot without asking to.
    await using observer = await agent.connect("/ws?observe=1");
    const status = await observer.request({ command: "status", id: 1 });
    assert.equal(status.data.gateway.connections.length, 1, "only the observer is connected");
    // The same identity comes back: it gets the slot and hears what happened.
    await using back = await agent.connect();
    const told = await back.event("safety_stop");
    assert.equal(told.data.link_lost, true);
    assert.match(told.data.reason, /link lost/);
    assert.equal(await velocity(back, "state"), 0);
  } finally {
    child.kill("SIGCONT");
    child.kill("SIGKILL");
    await reader.cancel();
    await child.status;
  }
});

Deno.test("e-stop from an observer cancels calls, refuses new ones ESTOPPED until the controller releases", async () => {
  await using agent = await startAgent();
  await using controller = await agent.connect();
  await controller.deploy({
    "main.py":
      "import time\nclass Slow:\n    def wait(self):\n        time.sleep(5)\n        return 1\n" +
      "    def quick(self):\n        return 2\n",
  });
  controller.send({ command: "process", id: "long", params: { object: "Slow", method: "wait" } });
  await controller.reply("long");
  await using observer = await agent.connect("/ws?observe=1");
  const stopped = await observer.request({ command: "estop", id: "e", params: { reason: "test" } });
  assert.equal(stopped.status, "success", stopped.message);
  assert.equal(stopped.data.cancelled, 1);
  const cancelled = await controller.callback("long");
  assert.equal(cancelled.data.error.code, "CANCELLED");
  assert.equal(cancelled.data.error.reason, "estop");
  assert.equal((await controller.event("estop")).data.by, "env");
  const refused = await controller.request({
    command: "process",
    id: "after",
    params: { object: "Slow", method: "quick" },
  });
  assert.equal(refused.code, "ESTOPPED");
  assert.equal(
    (await observer.request({ command: "estop_release", id: "r" })).code,
    "FORBIDDEN",
    "only the controller releases",
  );
  assert.equal(
    (await controller.request({ command: "estop_release", id: "r2" })).status,
    "success",
  );
  assert.equal((await controller.call("again", "Slow", "quick")).callback.data.result, 2);
});

Deno.test("a second call with the id of one in flight is refused DUPLICATE_ID", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  await client.deploy({
    "main.py":
      "import time\nclass Slow:\n    def wait(self, s):\n        time.sleep(s)\n        return s\n",
  });
  const params = { object: "Slow", method: "wait", args: { s: 0.5 } };
  client.send({ command: "process", id: 9, params });
  assert.equal((await client.reply(9)).status, "success");
  const second = await client.request({ command: "process", id: 9, params });
  assert.equal(second.code, "DUPLICATE_ID");
  assert.equal((await client.callback(9)).data.result, 0.5, "the first one is untouched");
  assert.equal(
    (await client.call(9, "Slow", "wait", { s: 0 })).callback.data.ok,
    true,
    "reusable after",
  );
});

Deno.test("a call's timeout_s cuts it short, and may not exceed python.call_timeout_s", async () => {
  await using agent = await startAgent({ config: "python:\n  call_timeout_s: 30\n" });
  await using client = await agent.connect();
  await client.deploy({
    "main.py":
      "import time\nclass Slow:\n    def wait(self, s):\n        time.sleep(s)\n        return s\n",
  });
  const short = await client.request({
    command: "process",
    id: 1,
    params: { object: "Slow", method: "wait", args: { s: 3 }, timeout_s: 0.2 },
  });
  assert.equal(short.status, "success");
  assert.equal((await client.callback(1)).data.error.code, "TIMEOUT");
  const over = await client.request({
    command: "process",
    id: 2,
    params: { object: "Slow", method: "wait", args: { s: 0 }, timeout_s: 31 },
  });
  assert.equal(over.code, "BAD_REQUEST");
  assert.match(over.message, /python.call_timeout_s/);
});

Deno.test("call counters survive a worker restart, and a hung worker is replaced with HUNG callbacks", async () => {
  await using agent = await startAgent({ config: "worker:\n  hang_timeout_s: 1\n" });
  await using client = await agent.connect();
  for (let i = 0; i < 3; i++) await client.call(`c${i}`, "sport_client", "GetState");
  const before = await client.request({ command: "status", id: "s1" });
  assert.equal(before.data.calls.completed, 3);
  const pid = before.data.worker.pid;
  Deno.kill(pid, "SIGSTOP");
  client.send({
    command: "process",
    id: "stuck",
    params: { object: "sport_client", method: "GetState" },
  });
  try {
    const answer = await client.next(
      (m) => m.id === "stuck" && (m.status === "callback" || m.status === "error"),
      15_000,
    );
    assert.equal(answer.status, "callback");
    assert.equal(answer.data.error.code, "HUNG");
    assert.match(answer.data.error.message, /stopped answering/);
  } finally {
    try {
      Deno.kill(pid, "SIGCONT");
    } catch {
      // Killed already: the point of the test.
    }
  }
  const worked = await client.call("after", "sport_client", "GetState");
  assert.equal(worked.ack.status, "success", JSON.stringify(worked.ack));
  assert.equal(worked.callback.data.ok, true);
  const after = await client.request({ command: "status", id: "s2" });
  assert.notEqual(after.data.worker.pid, pid);
  assert.equal(after.data.worker.restarts, 1);
  assert.equal(after.data.calls.completed, 4, "counted across the restart");
  assert.equal(after.data.calls.failed, 1);
});
