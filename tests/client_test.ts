/** The TypeScript client against a real agent: deploy, calls, events, dropped links. */
import assert from "node:assert/strict";
import { AgentConnectionError, AgentRequestError, RobotClient } from "../client/mod.ts";
import type { UploadProgress } from "../client/mod.ts";
import { makeZip, startAgent } from "./_agent.ts";
import { TcpProxy } from "./_proxy.ts";

const PROJECT = `import time

class Arm:
    def wave(self, times=1):
        push_message("waving", {"times": times})
        return ["wave"] * times

    def slow(self, seconds=1.0):
        print("slow started", flush=True)
        time.sleep(seconds)
        return "slept"

arm = Arm()
`;

function noise(size: number): Uint8Array {
  const data = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) {
    crypto.getRandomValues(data.subarray(at, Math.min(size, at + 65536)));
  }
  return data;
}

Deno.test("RobotClient deploys a zip in chunks, starts it, calls it and gets its events", async () => {
  await using agent = await startAgent();
  await using robot = await RobotClient.connect(agent.url);
  const zip = await makeZip({ "main.py": PROJECT, "data.bin": noise(300_000) }, { level: 0 });
  const phases: string[] = [];
  const deployed = await robot.deploy(zip, {
    chunkBytes: 64 * 1024,
    onProgress: (p) => phases.push(p.phase),
  });
  assert.equal(deployed.version, 1);
  assert.equal(phases.at(-1), "deploying");
  assert.ok(phases.filter((p) => p === "uploading").length >= 3, phases.join());
  const started = await robot.start();
  assert.deepEqual(started.objects?.arm, ["slow", "wave"]);
  const events = robot.events({ names: ["waving"] });
  assert.deepEqual(await robot.call("arm", "wave", { times: 2 }), ["wave", "wave"]);
  assert.deepEqual((await events.next()).value?.data, { times: 2 });
  await events.return?.();
  const error = await robot.call("arm", "wave", { nope: 1 }).catch((e) => e);
  assert.ok(error instanceof AgentRequestError);
  assert.equal(error.code, "BAD_ARGS");
  assert.equal((await robot.status()).project?.version, 1);
});

Deno.test("RobotClient gets a call's result across a dropped link, from its session", async () => {
  await using agent = await startAgent();
  await using proxy = TcpProxy.start(agent.port);
  await using robot = await RobotClient.connect(proxy.rewrite(agent.url), {
    reconnect: { firstDelayMs: 50 },
  });
  await robot.deploy(await makeZip({ "main.py": PROJECT }));
  await robot.start();
  const result = robot.call("arm", "slow", { seconds: 1 });
  await agent.waitForLog("slow started");
  const reconnected = new Promise((resolve) => robot.addEventListener("reconnect", resolve));
  proxy.cutAll();
  await reconnected;
  assert.equal(await result, "slept");
  assert.ok(proxy.connections >= 2);
});

Deno.test("RobotClient.deploy resumes from the agent's offset after the link drops", async () => {
  await using agent = await startAgent();
  await using proxy = TcpProxy.start(agent.port, { cutFirstAfter: 400_000 });
  await using robot = await RobotClient.connect(proxy.rewrite(agent.url), {
    reconnect: { firstDelayMs: 50 },
  });
  const zip = await makeZip({ "main.py": PROJECT, "data.bin": noise(1_200_000) }, { level: 0 });
  const reports: UploadProgress[] = [];
  const deployed = await robot.deploy(zip, {
    chunkBytes: 64 * 1024,
    onProgress: (p) => reports.push(p),
  });
  assert.equal(deployed.version, 1);
  assert.equal(deployed.size, zip.length);
  assert.ok(reports.some((r) => r.phase === "interrupted"));
  const resumed = reports.find((r) => r.phase === "resumed");
  assert.ok(resumed && resumed.received > 0, JSON.stringify(reports.map((r) => r.phase)));
});

Deno.test("RobotClient.connect is refused BUSY while another client holds the agent", async () => {
  await using agent = await startAgent();
  await using first = await RobotClient.connect(agent.url);
  const error = await RobotClient.connect(agent.url).catch((e) => e);
  assert.ok(error instanceof AgentConnectionError, String(error));
  assert.equal(error.code, "BUSY");
  assert.equal((await first.status()).worker.state, "running");
});
