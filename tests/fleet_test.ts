/**
 * The fleet mode end to end: a real `nats-server -js`, real agents dialling out to it,
 * the real `robot-agent fleet` command line.
 */
import assert from "node:assert/strict";
import { FleetClient } from "../fleet/mod.ts";
import type { Agent } from "./_agent.ts";
import {
  ARM_PROJECT,
  BROKEN_PROJECT,
  CRASHING_PROJECT,
  fleetCli,
  projectFolder,
  type RobotSpec,
  startFleetAgent,
  waitForRecords,
} from "./_fleet.ts";
import { type Broker, freePort, startBroker } from "./_nats.ts";

const ROBOTS: RobotSpec[] = [
  { id: "robot-a", labels: { model: "go2", site: "lab" } },
  { id: "robot-b", labels: { model: "g1", site: "lab" } },
];

/** A broker, two agents in the fleet, and an operator's client; all released at the end. */
async function fleetOf(robots: RobotSpec[] = ROBOTS) {
  const stack = new AsyncDisposableStack();
  try {
    const broker = stack.use(await startBroker());
    const agents = new Map<string, Agent>();
    for (const robot of robots) {
      agents.set(robot.id, stack.use(await startFleetAgent(broker.url, robot)));
    }
    const fleet = stack.use(await FleetClient.connect({ servers: broker.url }));
    await waitForRecords(fleet, (records) => robots.every((r) => records.has(r.id)));
    const folders: string[] = [];
    stack.defer(async () => {
      for (const dir of folders) await Deno.remove(dir, { recursive: true });
    });
    return {
      broker,
      agents,
      fleet,
      /** A project folder removed at the end. */
      async project(text: string, more?: Record<string, Uint8Array>) {
        const dir = await projectFolder(text, more);
        folders.push(dir);
        return dir;
      },
      [Symbol.asyncDispose]: () => stack.disposeAsync(),
    };
  } catch (error) {
    await stack.disposeAsync();
    throw error;
  }
}

/** The project version an agent runs, from its own WebSocket (as an observer). */
async function runningVersion(agent: Agent): Promise<{ version: number; state: string }> {
  const client = await agent.connect("/ws?observe=1");
  try {
    const status = await client.request({ command: "status", id: "s" });
    return status.data.project;
  } finally {
    client.socket.close();
    await client.closed;
  }
}

Deno.test("fleet deploy uploads a folder once, both agents converge, fleet call reaches both", async () => {
  await using f = await fleetOf();
  const listed = await fleetCli(f.broker.url, ["ls"]);
  assert.equal(listed.code, 0, listed.stderr);
  assert.match(listed.stdout, /robot-a\s+yes\s+model=go2,site=lab/);
  assert.match(listed.stdout, /robot-b\s+yes\s+model=g1,site=lab/);

  const dir = await f.project(ARM_PROJECT);
  const deployed = await fleetCli(f.broker.url, ["deploy", dir, "--robots", "all"]);
  assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
  assert.match(deployed.stdout, /Uploaded .* once for 2 robots/);
  assert.match(deployed.stdout, /robot-a\s+converged .* version 1/);
  assert.match(deployed.stdout, /robot-b\s+converged .* version 1/);
  assert.match(deployed.stdout, /2 robots in .*: 2 converged/);
  for (const agent of f.agents.values()) {
    const project = await runningVersion(agent);
    assert.deepEqual([project.version, project.state], [1, "running"]);
  }

  const again = await fleetCli(f.broker.url, ["deploy", dir, "--robots", "site=lab"]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /has .* already: nothing to upload/);

  const called = await fleetCli(f.broker.url, ["call", "all", "arm.wave", "times=2"]);
  assert.equal(called.code, 0, called.stdout + called.stderr);
  assert.match(called.stdout, /robot-a\s+ok\s+\["wave","wave"\]/);
  assert.match(called.stdout, /robot-b\s+ok\s+\["wave","wave"\]/);

  const one = await f.fleet.call(["robot-b"], { object: "arm", method: "nope" });
  assert.equal(one[0].error?.code, "UNKNOWN_METHOD", "errors come back per robot");
});

Deno.test("fleet deploy: a robot whose deploy fails rolls back to its last good version and says so", async () => {
  await using f = await fleetOf();
  const good = await f.project(ARM_PROJECT);
  assert.equal((await fleetCli(f.broker.url, ["deploy", good, "--robots", "all"])).code, 0);

  const broken = await f.project(BROKEN_PROJECT);
  const failed = await fleetCli(f.broker.url, ["deploy", broken, "--robots", "model=g1"]);
  assert.equal(failed.code, 1, "a robot that did not converge fails the command");
  assert.match(failed.stdout, /: 1 robots/, "only robot-b carries model=g1");
  assert.match(failed.stdout, /robot-b\s+rolled_back .* version 2; version 1 runs: START_FAILED/);
  const project = await runningVersion(f.agents.get("robot-b")!);
  assert.deepEqual([project.version, project.state], [1, "running"]);
  assert.equal((await runningVersion(f.agents.get("robot-a")!)).version, 1, "robot-a untouched");

  const status = await fleetCli(f.broker.url, ["status"]);
  assert.equal(status.code, 1, "status fails while a robot is rolled back");
  assert.match(status.stdout, /robot-a\s+converged/);
  assert.match(status.stdout, /robot-b\s+rolled_back/);

  const calls = await f.fleet.call(["robot-a", "robot-b"], { object: "arm", method: "wave" });
  assert.deepEqual(calls.map((c) => c.ok), [true, true], "the rolled-back robot still serves");

  const crashing = await f.project(CRASHING_PROJECT);
  const crashed = await fleetCli(f.broker.url, ["deploy", crashing, "--robots", "id=robot-b"]);
  assert.equal(crashed.code, 1);
  assert.match(crashed.stdout, /robot-b\s+rolled_back .* version 3; version 1 runs/);
  assert.equal((await runningVersion(f.agents.get("robot-b")!)).version, 1);

  const back = await fleetCli(f.broker.url, ["rollback", "id=robot-b"]);
  assert.equal(back.code, 1, "robot-b follows model=g1 again, whose deploy failed");
  assert.match(back.stdout, /Removed the desired state of id=robot-b/);
  assert.match(back.stdout, /robot-b\s+rolled_back .* version 2;/, "not tried a second time");
  const again = await fleetCli(f.broker.url, ["rollback", "model=g1"]);
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /robot-b\s+converged .* version 1/, "it follows all again");
  assert.equal((await fleetCli(f.broker.url, ["status"])).code, 0);
});

Deno.test("fleet rollback sets a selector back to the zip it had before, and the robots follow", async () => {
  await using f = await fleetOf();
  const first = await f.project(ARM_PROJECT);
  const second = await f.project(`${ARM_PROJECT}\nVERSION = 2\n`);
  assert.equal((await fleetCli(f.broker.url, ["deploy", first, "--robots", "all"])).code, 0);
  assert.equal((await fleetCli(f.broker.url, ["deploy", second, "--robots", "all"])).code, 0);
  const [before] = await f.fleet.desiredHistory({ kind: "all" });
  const rolled = await fleetCli(f.broker.url, ["rollback", "all"]);
  assert.equal(rolled.code, 0, rolled.stdout + rolled.stderr);
  assert.match(rolled.stdout, /2 robots in .*: 2 converged/);
  const records = await waitForRecords(f.fleet, () => true);
  for (const record of records.values()) {
    assert.equal(record.fleet.sha256, before.sha256);
    assert.equal(record.fleet.version, 1, "the kept good version runs again, not a new copy");
  }
  const none = await fleetCli(f.broker.url, ["rollback", "model=go2"]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no desired state is set/);
});

Deno.test("fleet call that moves the robot is refused BUSY while a local client controls it, unless it takes over", async () => {
  await using f = await fleetOf([ROBOTS[0]]);
  const agent = f.agents.get("robot-a")!;
  const local = await agent.connect();
  const start = await local.request({ command: "status", id: 1 });
  assert.equal(start.data.gateway.you.role, "controller");

  const refused = await fleetCli(f.broker.url, ["call", "id=robot-a", "sport_client.StandUp"]);
  assert.equal(refused.code, 1);
  assert.match(refused.stdout, /robot-a\s+error\s+BUSY/);
  const status = await f.fleet.send("robot-a", { command: "status" });
  assert.ok(status.ok, "read-only commands pass beside the local controller");

  const taken = await fleetCli(f.broker.url, [
    "call",
    "id=robot-a",
    "sport_client.StandUp",
    "--takeover",
  ]);
  assert.equal(taken.code, 0, taken.stdout + taken.stderr);
  const closed = await local.closed;
  assert.equal(closed.code, 4003, "the local client is told it was taken over");
  assert.match(closed.reason, /taken over by fleet/);
});

Deno.test("fleet deploy waits while a local client controls the robot, and converges once it leaves", async () => {
  await using f = await fleetOf([ROBOTS[0]]);
  const local = await f.agents.get("robot-a")!.connect();
  await local.request({ command: "status", id: 1 });
  const dir = await f.project(ARM_PROJECT);
  const set = await fleetCli(f.broker.url, ["deploy", dir, "--robots", "all", "--no-wait"]);
  assert.equal(set.code, 0, set.stderr);
  await waitForRecords(f.fleet, (r) => r.get("robot-a")?.fleet.state === "waiting");
  const waiting = (await f.fleet.robots())[0].fleet;
  assert.equal(waiting.error?.code, "BUSY");
  local.socket.close();
  await local.closed;
  const done = await waitForRecords(f.fleet, (r) => r.get("robot-a")?.fleet.state === "converged");
  assert.equal(done.get("robot-a")!.fleet.version, 1);
});

Deno.test("fleet deploy survives a broker restart mid-deploy: the robots converge once it is back", async () => {
  await using f = await fleetOf();
  const payload = crypto.getRandomValues(new Uint8Array(65536));
  const big = new Uint8Array(6 * 1024 * 1024);
  for (let i = 0; i < big.length; i += payload.length) big.set(payload.map((b) => b ^ i), i);
  const dir = await f.project(ARM_PROJECT, { "weights.bin": big });
  const set = await fleetCli(f.broker.url, ["deploy", dir, "--robots", "all", "--no-wait"]);
  assert.equal(set.code, 0, set.stderr);
  const deployId = /Deploy (\S+)/.exec(set.stdout)![1];
  await waitForRecords(
    f.fleet,
    (records) =>
      [...records.values()].some((r) =>
        r.fleet.deploy_id === deployId && ["fetching", "deploying"].includes(r.fleet.state)
      ),
    60_000,
  );
  await restart(f.broker);
  const done = await waitForRecords(
    f.fleet,
    (records) =>
      [...records.values()].every((r) =>
        r.fleet.deploy_id === deployId && r.fleet.state === "converged"
      ),
    90_000,
  );
  assert.equal(done.size, 2);
});

async function restart(broker: Broker): Promise<void> {
  await broker.stop(true);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await broker.start();
}

Deno.test("an agent serves its WebSocket while the broker is unreachable, and joins once it starts", async () => {
  const port = freePort();
  await using agent = await startFleetAgent(`nats://127.0.0.1:${port}`, ROBOTS[0]);
  assert.equal((await runningVersion(agent)).state, "running", "local use is unaffected");
  await using broker = await startBroker({ port });
  await using fleet = await FleetClient.connect({ servers: broker.url });
  const records = await waitForRecords(fleet, (r) => r.has("robot-a"), 60_000);
  assert.equal(records.get("robot-a")!.online, true);
  assert.match(agent.log, /Cannot reach the broker/);
});
