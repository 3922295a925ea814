/**
 * The operator's command line for the robot's safety and for reading it:
 * `robot-agent estop|estop-release|logs|describe`, as subprocesses against a real agent.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Agent, makeZip as makeZipOf, startAgent } from "./_agent.ts";

const ROOT = join(import.meta.dirname ?? ".", "..");
const MAIN = join(ROOT, "main.ts");

const PROJECT = `class Talker:
    def say(self, text: str) -> str:
        """Prints text and returns it."""
        print("said", text, flush=True)
        return text
`;

async function cli(agent: Agent, args: string[]) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", MAIN, ...args, "--url", agent.url.replace(/\?.*/, "")],
    env: { NO_COLOR: "1", ROBOT_AGENT_TOKEN: agent.token! },
    cwd: ROOT,
    stdin: "null",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("robot-agent estop works beside a connected controller, and estop-release --takeover releases", async () => {
  await using agent = await startAgent();
  await using controller = await agent.connect();
  const stopped = await cli(agent, ["estop", "testing"]);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, /E-stopped/);
  const refused = await controller.request({
    command: "process",
    id: 1,
    params: { object: "sport_client", method: "GetState" },
  });
  assert.equal(refused.code, "ESTOPPED");
  const notYours = await cli(agent, ["estop-release"]);
  assert.notEqual(notYours.code, 0, "the controller is connected: the CLI is refused BUSY");
  const released = await cli(agent, ["estop-release", "--takeover"]);
  assert.equal(released.code, 0, released.stderr);
  assert.equal((await controller.closed).code, 4003, "the old controller was taken over");
});

Deno.test("robot-agent logs prints the project's print() output, and logs -f follows it", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  await client.deploy({ "main.py": PROJECT });
  await client.call(1, "Talker", "say", { text: "hello" });
  await agent.waitForLog("said hello");
  const recent = await cli(agent, ["logs", "--source", "project"]);
  assert.equal(recent.code, 0, recent.stderr);
  assert.match(recent.stdout, /project v1 stdout: said hello/);
  const follower = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "-A",
      MAIN,
      "logs",
      "-f",
      "--lines",
      "0",
      "--source",
      "project",
      "--url",
      agent.url.replace(/\?.*/, ""),
    ],
    env: { NO_COLOR: "1", ROBOT_AGENT_TOKEN: agent.token! },
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = follower.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    await agent.waitForLog(/observes/);
    await client.call(2, "Talker", "say", { text: "live" });
    let seen = "";
    while (!seen.includes("said live")) seen += (await lines.read()).value ?? "";
    follower.kill("SIGINT");
    assert.equal((await follower.status).code, 0);
  } finally {
    await lines.cancel();
    await follower.stderr.cancel();
  }
});

Deno.test("robot-agent describe lists the objects and methods with their parameters", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  await client.deploy({ "main.py": PROJECT });
  const described = await cli(agent, ["describe"]);
  assert.equal(described.code, 0, described.stderr);
  assert.match(described.stdout, /^Talker/m);
  assert.match(described.stdout, /say\(/);
  const json = JSON.parse((await cli(agent, ["describe", "Talker", "--json"])).stdout);
  assert.deepEqual(Object.keys(json.objects), ["Talker"]);
  const missing = await cli(agent, ["describe", "Nope"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /UNKNOWN_OBJECT/);
});

Deno.test("versions lists statuses, and activate (protocol and CLI) starts a kept version", async () => {
  await using agent = await startAgent({ config: "lifecycle:\n  probation_s: 0\n" });
  await using client = await agent.connect();
  await client.deploy({ "main.py": PROJECT });
  const broken = await client.request({
    command: "update",
    id: "b",
    data: (await makeZipOf({ "main.py": "import nope_not_here\n" })).toBase64(),
  });
  assert.equal(broken.status, "success");
  const failed = await client.request({ command: "start", id: "s" });
  assert.equal(failed.code, "START_FAILED");
  const listed = await client.request({ command: "versions", id: "v" });
  const statuses = Object.fromEntries(
    listed.data.versions.map((v: { version: number; status: string }) => [v.version, v.status]),
  );
  assert.equal(statuses[1], "good");
  assert.equal(statuses[2], "failed");
  const activated = await client.request({ command: "activate", id: "a", params: { version: 0 } });
  assert.equal(activated.status, "success", activated.message);
  assert.equal((await client.call("g", "sport_client", "GetState")).callback.data.ok, true);
  await client.close();
  const printed = await cli(agent, ["versions"]);
  assert.equal(printed.code, 0, printed.stderr);
  assert.match(printed.stdout, /^\*\s+0 .*built in/m);
  assert.match(printed.stdout, /^\s+2 .*failed/m);
  const back = await cli(agent, ["activate", "1"]);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /Version 1 is current/);
});
