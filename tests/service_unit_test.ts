/**
 * The systemd unit `robot-agent install` writes (and `scripts/robot-agent.service` ships):
 * the same text, clean in `systemd-analyze verify`, and at most 5.0 in
 * `systemd-analyze security --offline=true`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  DEFAULT_UNIT_OPTIONS,
  serviceUnit,
  type ServiceUnitOptions,
} from "../cli/_service_unit.ts";

const SHIPPED = join(import.meta.dirname ?? ".", "..", "scripts", "robot-agent.service");

const VARIANTS: ServiceUnitOptions[] = [DEFAULT_UNIT_OPTIONS, { prefix: "/srv/bot", user: "bot" }];

/** Runs `systemd-analyze ARGS… UNIT` on a unit's text; `/bin/true` stands in for the binary. */
async function analyze(
  args: string[],
  options: ServiceUnitOptions,
): Promise<{ code: number; output: string }> {
  const dir = await Deno.makeTempDir();
  try {
    // verify checks that ExecStart's program exists.
    const text = serviceUnit(options).replace(`${options.prefix}/robot-agent `, "/bin/true ");
    assert.match(text, /^ExecStart=\/bin\/true serve/m);
    const unit = join(dir, "robot-agent.service");
    await Deno.writeTextFile(unit, text);
    const result = await new Deno.Command("systemd-analyze", { args: [...args, unit] }).output();
    const decoder = new TextDecoder();
    return {
      code: result.code,
      output: decoder.decode(result.stderr) + decoder.decode(result.stdout),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("scripts/robot-agent.service is the unit install writes with default options", async () => {
  assert.equal(
    await Deno.readTextFile(SHIPPED),
    serviceUnit(DEFAULT_UNIT_OPTIONS),
    "regenerate it: deno run -A main.ts install --print-unit > scripts/robot-agent.service",
  );
});

Deno.test("serviceUnit passes systemd-analyze verify without warnings", async () => {
  for (const options of VARIANTS) {
    const { code, output } = await analyze(["verify"], options);
    assert.equal(code, 0, output);
    assert.equal(output.trim(), "", output);
  }
});

Deno.test("serviceUnit rates at most 5.0 in systemd-analyze security --offline", async () => {
  for (const options of VARIANTS) {
    const { output } = await analyze(["security", "--offline=true", "--no-pager"], options);
    const match = /Overall exposure level for [^:]+: (\d+(?:\.\d+)?)/.exec(output);
    assert.ok(match, output);
    assert.ok(Number(match[1]) <= 5.0, `exposure ${match[1]} is over 5.0:\n${output}`);
  }
});

Deno.test("serviceUnit keeps what the agent needs: its shutdown, delegation, devices, network", () => {
  const unit = serviceUnit(DEFAULT_UNIT_OPTIONS);
  const value = (key: string) =>
    [...unit.matchAll(new RegExp(`^${key}=(.*)$`, "gm"))].map((m) => m[1]);
  assert.deepEqual(value("KillMode"), ["mixed"]);
  assert.deepEqual(value("KillSignal"), ["SIGTERM"]);
  assert.ok(Number(value("TimeoutStopSec")[0]) >= 15);
  assert.deepEqual(value("Restart"), ["always"]);
  assert.deepEqual(value("Delegate"), ["yes"]);
  assert.deepEqual(value("ProtectSystem"), ["strict"]);
  assert.deepEqual(value("StateDirectory"), ["robot-agent"]);
  assert.deepEqual(value("EnvironmentFile"), ["/opt/robot-agent/token.env"]);
  for (const key of ["MemoryMax", "TasksMax", "StartLimitBurst", "StartLimitIntervalSec"]) {
    assert.equal(value(key).length, 1, key);
  }
  // Devices a project is granted, and the robot's network, stay reachable.
  for (const key of ["PrivateDevices", "DeviceAllow", "ProtectClock", "PrivateNetwork"]) {
    assert.deepEqual(value(key), [], key);
  }
  assert.deepEqual(value("IPAddressDeny"), []);
  // The user switch and net: false's namespace need these, and only these.
  assert.deepEqual(value("CapabilityBoundingSet")[0].split(" ").sort(), [
    "CAP_KILL",
    "CAP_NET_ADMIN",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SYS_ADMIN",
  ]);
});
