/**
 * Per-robot permissions on a real broker, configured as docs/fleet.md says (the keys and
 * `accounts.conf` that `robot-agent fleet keys` writes): the fleet works, and a robot's
 * user cannot touch another robot's subjects or records.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, nkeyAuthenticator } from "@nats-io/transport-node";
import { DEFAULT_NAMES, FleetClient } from "../fleet/mod.ts";
import { ARM_PROJECT, fleetCli, projectFolder, startFleetAgent, waitForRecords } from "./_fleet.ts";
import { startBroker } from "./_nats.ts";

Deno.test("per-robot NATS users run the whole fleet, and a robot cannot reach another's subjects", async () => {
  await using stack = new AsyncDisposableStack();
  const dir = await Deno.makeTempDir({ prefix: "robot-agent-keys-" });
  stack.defer(() => Deno.remove(dir, { recursive: true }));
  // The keys and the broker's accounts block as docs/fleet.md makes them.
  const made = await fleetCli("nats://127.0.0.1:1", ["keys", "robot-a", "robot-b", "--out", dir]);
  assert.equal(made.code, 0, made.stderr);
  assert.equal((await Deno.stat(join(dir, "robot-a.nk"))).mode! & 0o077, 0, "seeds are private");
  const broker = stack.use(
    await startBroker({ config: await Deno.readTextFile(join(dir, "accounts.conf")) }),
  );
  const operatorKey = join(dir, "operator.nk");
  // The operator makes the buckets; robots may only use them.
  const fleet = stack.use(
    await FleetClient.connect({ servers: broker.url, nkeyFile: operatorKey }),
  );
  for (const id of ["robot-a", "robot-b"]) {
    stack.use(
      await startFleetAgent(broker.url, {
        id,
        fleet: `  nkey_file: ${join(dir, `${id}.nk`)}`,
      }),
    );
  }
  await waitForRecords(fleet, (records) => records.has("robot-a") && records.has("robot-b"));
  const project = await projectFolder(ARM_PROJECT);
  stack.defer(() => Deno.remove(project, { recursive: true }));
  const deployed = await fleetCli(broker.url, [
    "deploy",
    project,
    "--robots",
    "all",
    "--nkey",
    operatorKey,
  ]);
  assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr + broker.log);
  const called = await fleetCli(broker.url, ["call", "all", "arm.wave", "--nkey", operatorKey]);
  assert.equal(called.code, 0, called.stdout + called.stderr);
  assert.doesNotMatch(broker.log, /Violation/, "the agents stay within their permissions");

  const seed = new TextEncoder().encode((await Deno.readTextFile(join(dir, "robot-a.nk"))).trim());
  const asRobotA = await connect({
    servers: broker.url,
    authenticator: nkeyAuthenticator(seed),
    inboxPrefix: "_INBOX_robot-a",
  });
  stack.defer(() => asRobotA.close());
  const denied = Promise.withResolvers<Error>();
  asRobotA.subscribe("robot-agent.robot-b.cmd", {
    callback: (error) => {
      if (error) denied.resolve(error);
    },
  });
  assert.match(String(await denied.promise), /Permissions Violation for Subscription/);
  const status = await new Kvm(jetstream(asRobotA)).open(DEFAULT_NAMES.statusBucket);
  await assert.rejects(status.put("robot-b", "{}"), "robot-a may not write robot-b's record");
  await assert.rejects(status.get("robot-b"), /Permissions Violation/, "nor read the records");
  assert.match(broker.log, /Publish Violation .*robot-agent-status\.robot-b/);
  const record = (await fleet.robots()).find((r) => r.robot_id === "robot-b");
  assert.equal(record?.robot_id, "robot-b", "robot-b's record is its own");
});
