/**
 * End-to-end: the seed's UPDATE → START → PROCESS flows through the real agent, real
 * python3 and a real WebSocket client.
 */
import assert from "node:assert/strict";
import { makeZip, startAgent } from "./_agent.ts";

const PROJECT = `
import asyncio
import sys
import time

print("project imported")
sys.stderr.write("a line on stderr\\n")


class Calculator:
    def __init__(self):
        self.total = 0

    def add(self, a, b):
        self.total += a + b
        return {"sum": a + b, "total": self.total}

    async def slow_async(self, seconds=0.2):
        await asyncio.sleep(seconds)
        return "slept"

    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds

    def fail(self):
        raise ValueError("bad value")

    def unserialisable(self):
        return {1, 2}

    def shout(self, text):
        print("shouting", text)
        push_message("shout", {"text": text})
        return text.upper()

    def big(self, n, tag=None):
        data = {"points": [[i * 0.5, -i, "\u00e9\u2713"] for i in range(n)], "n": n, "tag": tag}
        push_message("big", data)
        return data


class Counter:
    count = 0

    def bump(self):
        self.count += 1
        return self.count


calc = Calculator()


def init():
    push_message("initialised", {"ok": True})
`;

Deno.test("a seed-only client calls the default project with no update or start", async () => {
  await using agent = await startAgent();
  // The seed client connects to the root path and sends no ids.
  await using client = await agent.connect("/");
  client.send({
    command: "process",
    params: { object: "sport_client", method: "StandUp", args: {} },
  });
  const ack = await client.next();
  assert.equal(ack.status, "success");
  assert.deepEqual(ack.data, { object: "sport_client", method: "StandUp" });
  assert.equal("id" in ack, false);
  const callback = await client.next();
  assert.equal(callback.status, "callback");
  assert.equal(callback.data.ok, true);
  assert.equal(callback.data.result.mode, "standing");
  const moved = await client.call(1, "sport_client", "Move", { vx: 0.5, vy: 0, vyaw: 0.1 });
  assert.equal(moved.callback.data.result.mode, "locomotion");
  assert.deepEqual(moved.callback.data.result.velocity, { vx: 0.5, vy: 0, vyaw: 0.1 });
});

Deno.test("update, start and process run a deployed Python project", async () => {
  await using agent = await startAgent({ config: "python:\n  call_timeout_s: 1\n" });
  await using client = await agent.connect();
  const zip = await makeZip({ "main.py": PROJECT, "data/readme.txt": "x" });
  const updated = await client.request({ command: "update", id: "u1", data: zip.toBase64() });
  assert.equal(updated.status, "success", updated.message);
  assert.equal(updated.data.type, "python");
  assert.equal(updated.data.version, 1);

  const notStarted = await client.request({
    command: "process",
    id: "early",
    params: { object: "calc", method: "add", args: { a: 1, b: 2 } },
  });
  assert.equal(notStarted.status, "error");
  assert.equal(notStarted.code, "NOT_STARTED");

  const initialised = client.event("initialised");
  const started = await client.request({ command: "start", id: "s1" });
  assert.equal(started.status, "success", started.message);
  assert.deepEqual(started.data.objects.calc.sort(), [
    "add",
    "big",
    "fail",
    "shout",
    "sleep",
    "slow_async",
    "unserialisable",
  ]);
  assert.deepEqual(started.data.objects.Counter, ["bump"]);
  assert.deepEqual((await initialised).data, { ok: true });

  const add = await client.call(1, "calc", "add", { a: 2, b: 3 });
  assert.deepEqual(add.callback.data, {
    object: "calc",
    method: "add",
    ok: true,
    result: { sum: 5, total: 5 },
  });
  assert.deepEqual((await client.call(2, "calc", "add", { a: 1, b: 1 })).callback.data.result, {
    sum: 2,
    total: 7,
  });
  // A class is instantiated once and reused.
  assert.equal((await client.call(3, "Counter", "bump")).callback.data.result, 1);
  assert.equal((await client.call(4, "Counter", "bump")).callback.data.result, 2);
  assert.equal(
    (await client.call(5, "calc", "slow_async", { seconds: 0.05 })).callback.data.result,
    "slept",
  );

  const failed = await client.call(6, "calc", "fail");
  assert.equal(failed.ack.status, "success");
  assert.equal(failed.callback.data.ok, false);
  assert.equal(failed.callback.data.error.code, "EXCEPTION");
  assert.equal(failed.callback.data.error.type, "ValueError");
  assert.equal(failed.callback.data.error.message, "bad value");
  assert.match(failed.callback.data.error.traceback, /raise ValueError\("bad value"\)/);

  const unserialisable = await client.call(7, "calc", "unserialisable");
  assert.equal(unserialisable.callback.data.error.code, "NOT_SERIALIZABLE");
  assert.match(unserialisable.callback.data.error.message, /set/);

  const badArgs = await client.call(8, "calc", "add", { a: 1 });
  assert.equal(badArgs.callback.data.error.code, "BAD_ARGS");

  const unknownObject = await client.request({
    command: "process",
    id: 9,
    params: { object: "nobody", method: "add", args: {} },
  });
  assert.equal(unknownObject.status, "error");
  assert.equal(unknownObject.code, "UNKNOWN_OBJECT");
  const unknownMethod = await client.request({
    command: "process",
    id: 10,
    params: { object: "calc", method: "nothing", args: {} },
  });
  assert.equal(unknownMethod.code, "UNKNOWN_METHOD");

  const shout = client.event("shout");
  assert.equal((await client.call(11, "calc", "shout", { text: "hi" })).callback.data.result, "HI");
  assert.deepEqual((await shout).data, { text: "hi" });

  // Long args, results and event data cross the agent unparsed (as JSON text).
  const bigEvent = client.event("big");
  const points = Array.from({ length: 5000 }, (_, i) => [i * 0.5, i ? -i : 0, "é✓"]);
  const tag = 'é✓ "quoted" '.repeat(200);
  const big = await client.call(12, "calc", "big", { n: 5000, tag });
  assert.deepEqual(big.callback.data, {
    object: "calc",
    method: "big",
    ok: true,
    result: { points, n: 5000, tag },
  });
  assert.deepEqual((await bigEvent).data, { points, n: 5000, tag });

  // A slow call neither blocks a fast one nor outlives the configured timeout.
  const slowAck = await client.request({
    command: "process",
    id: "slow",
    params: { object: "calc", method: "sleep", args: { seconds: 3 } },
  });
  assert.equal(slowAck.status, "success");
  const fast = await client.call("fast", "calc", "add", { a: 0, b: 0 });
  assert.equal(fast.callback.data.ok, true);
  assert.equal(client.received.some((m) => m.id === "slow"), false);
  const slow = await client.callback("slow");
  assert.equal(slow.data.error.code, "TIMEOUT");

  // print() and stderr of the project became log lines, not protocol noise.
  await agent.waitForLog("project imported");
  await agent.waitForLog("shouting hi");
  await agent.waitForLog("a line on stderr");
});

Deno.test("update, start and process sent in one burst take effect in the order sent", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  const zip = await makeZip({ "main.py": PROJECT });
  const call = (id: string) => ({
    command: "process",
    id,
    params: { object: "calc", method: "add", args: { a: 2, b: 3 } },
  });
  // Nothing waits for a reply: the default project (sport_client) is running, calc is not.
  client.send({ command: "update", id: "u", data: zip.toBase64() });
  client.send(call("between"));
  client.send({ command: "start", id: "s" });
  client.send(call("after"));
  const order: string[] = [];
  for (let i = 0; i < 4; i++) {
    const m = await client.next((m) => m.status !== "callback");
    order.push(`${m.id}:${m.status}${m.code ? `:${m.code}` : ""}`);
  }
  assert.deepEqual(order, ["u:success", "between:error:NOT_STARTED", "s:success", "after:success"]);
  const callback = await client.callback("after");
  assert.deepEqual(callback.data.result, { sum: 5, total: 5 });
});

Deno.test("a binary message deploys a package inside a single top-level folder", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  const zip = await makeZip({
    "robot/__init__.py": "from .arm import Arm\narm = Arm()\n",
    "robot/arm.py": "class Arm:\n    def wave(self, times=1):\n        return ['wave'] * times\n",
  });
  const reply = client.next();
  client.send(zip);
  const updated = await reply;
  assert.equal(updated.status, "success", updated.message);
  assert.equal(updated.data.type, "python");
  assert.equal(updated.data.entry, "__init__.py");
  assert.equal((await client.request({ command: "start", id: 1 })).status, "success");
  assert.deepEqual((await client.call(2, "arm", "wave", { times: 2 })).callback.data.result, [
    "wave",
    "wave",
  ]);
});

Deno.test("a refused update names the problem and leaves the running project untouched", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  const good = await makeZip({ "main.py": "class A:\n    def v(self):\n        return 1\n" });
  assert.equal(
    (await client.request({ command: "update", id: 0, data: good.toBase64() })).status,
    "success",
  );
  assert.equal((await client.request({ command: "start", id: 1 })).status, "success");

  const cases: [string, unknown, string][] = [
    ["invalid base64", { command: "update", data: "@@not base64@@" }, "BAD_BASE64"],
    ["missing data", { command: "update" }, "BAD_REQUEST"],
    [
      "not a zip",
      { command: "update", data: (new TextEncoder().encode("hello")).toBase64() },
      "BAD_ZIP",
    ],
    ["empty zip", { command: "update", data: (await makeZip({})).toBase64() }, "EMPTY_ZIP"],
    ["zip slip", {
      command: "update",
      data: (await makeZip({ "../evil.py": "x", "main.py": "x" })).toBase64(),
    }, "UNSAFE_ZIP"],
    ["no project", {
      command: "update",
      data: (await makeZip({ "notes.txt": "nothing to run" })).toBase64(),
    }, "NO_PROJECT"],
    ["bad params", { command: "process", params: { object: 3, method: "v" } }, "BAD_REQUEST"],
    ["args not an object", {
      command: "process",
      params: { object: "A", method: "v", args: [1] },
    }, "BAD_REQUEST"],
    ["unknown command", { command: "reboot" }, "UNKNOWN_COMMAND"],
    ["not an object", [1, 2], "BAD_REQUEST"],
  ];
  for (const [name, message, code] of cases) {
    const reply = await client.request({ ...(message as object), id: name });
    assert.equal(reply.status, "error", name);
    assert.equal(reply.code, code, `${name}: ${reply.message}`);
    assert.ok(reply.message.length > 10, name);
  }
  const reply = client.next();
  client.send("{not json");
  assert.equal((await reply).code, "BAD_REQUEST");

  const status = await client.request({ command: "status", id: "st" });
  assert.equal(status.data.project.version, 1);
  assert.equal(status.data.project.state, "running");
  assert.match(status.data.project.python, /^3\.\d+\.\d+/);
  assert.equal(status.data.project.abandoned_calls, 0);
  assert.equal((await client.call("after", "A", "v")).callback.data.result, 1);
  const versions = [...Deno.readDirSync(`${agent.storage}/projects`)].map((e) => e.name).sort();
  assert.deepEqual(versions, ["current", "v000001"]);
  assert.deepEqual([...Deno.readDirSync(`${agent.storage}/staging`)], []);
});

Deno.test("a second client is refused with BUSY while the first keeps working", async () => {
  await using agent = await startAgent();
  await using first = await agent.connect();
  const second = await agent.connect();
  const refusal = await second.next();
  assert.equal(refusal.status, "error");
  assert.equal(refusal.code, "BUSY");
  const closed = await second.closed;
  assert.equal(closed.code, 4001);
  assert.equal((await first.call(1, "sport_client", "StandUp")).callback.data.ok, true);
  await first.close();
  // Once the first client has gone, the slot is free again.
  await using third = await agent.connect();
  assert.equal((await third.call(2, "sport_client", "GetState")).callback.data.ok, true);
});

Deno.test("a message over gateway.max_message_bytes is refused and the connection closed", async () => {
  await using agent = await startAgent({ config: "gateway:\n  max_message_bytes: 4096\n" });
  const client = await agent.connect();
  client.send({ command: "update", data: "A".repeat(8192) });
  const reply = await client.next();
  assert.equal(reply.code, "MESSAGE_TOO_LARGE");
  assert.equal((await client.closed).code, 4009);
  await using again = await agent.connect();
  assert.equal((await again.call(1, "sport_client", "GetState")).callback.data.ok, true);
});

Deno.test("an invalid config file stops the agent with file, line and key", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.yaml`, "gateway:\n  port: 8000\n  colour: blue\n");
    await assert.rejects(
      startAgent({ args: ["--config", `${dir}/bad.yaml`], storage: dir }),
      /bad\.yaml:3: gateway\.colour: unknown key/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
