import assert from "node:assert/strict";
import { ConfigError, parseConfig, validateConfig } from "./config.ts";

Deno.test("parseConfig fills defaults for an empty file", () => {
  const config = parseConfig("");
  assert.equal(config.gateway.port, 8000);
  assert.equal(config.gateway.host, "0.0.0.0");
  assert.equal(config.python.call_timeout_s, 300);
  assert.deepEqual(config.safety.on_disconnect, [
    { object: "sport_client", method: "StopMove", args: {} },
  ]);
});

Deno.test("parseConfig accepts the shipped config.yaml with its documented defaults", async () => {
  const shipped = parseConfig(await Deno.readTextFile(new URL("./config.yaml", import.meta.url)));
  assert.deepEqual(shipped, validateConfig({}));
});

Deno.test("parseConfig rejects an unknown key naming file, line and key", () => {
  assert.throws(
    () => parseConfig("gateway:\n  port: 8000\n  prot: 9\n", "robot.yaml"),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.message.includes("robot.yaml:3") &&
      error.message.includes("gateway.prot") &&
      error.message.includes("unknown key"),
  );
});

Deno.test("parseConfig rejects a wrong type naming the line and key", () => {
  assert.throws(
    () => parseConfig("log:\n  level: info\ngateway:\n  port: high\n"),
    /config\.yaml:4: gateway\.port: expected an integer from 0 to 65535, got "high"/,
  );
});

Deno.test("parseConfig rejects out-of-range numbers and bad choices", () => {
  assert.throws(() => parseConfig("gateway:\n  port: 70000\n"), /gateway\.port/);
  assert.throws(() => parseConfig("log:\n  level: loud\n"), /log\.level: expected one of debug/);
  assert.throws(() => parseConfig("python:\n  threads: 1.5\n"), /python\.threads/);
});

Deno.test("parseConfig validates safety calls", () => {
  const config = parseConfig(
    "safety:\n  on_disconnect:\n    - {object: arm, method: Halt, args: {fast: true}}\n",
  );
  assert.deepEqual(config.safety.on_disconnect, [
    { object: "arm", method: "Halt", args: { fast: true } },
  ]);
  assert.throws(
    () => parseConfig("safety:\n  on_disconnect:\n    - {object: arm}\n"),
    /safety\.on_disconnect\.0\.method: expected a non-empty string/,
  );
  assert.throws(
    () => parseConfig("safety:\n  on_disconnect:\n    - {object: arm, method: X, speed: 1}\n"),
    /safety\.on_disconnect\.0\.speed: unknown key/,
  );
  assert.deepEqual(parseConfig("safety:\n  on_disconnect: null\n").safety.on_disconnect, []);
});

Deno.test("parseConfig reports YAML syntax errors with a line", () => {
  assert.throws(() => parseConfig("gateway:\n  port: [1\n"), /config\.yaml:\d+:/);
  assert.throws(() => parseConfig("a: 1\na: 2\n"), ConfigError);
});

Deno.test("parseConfig refuses sandbox defaults beyond the ceiling, naming the key's line", () => {
  const text = "sandbox:\n  defaults:\n    memory_mb: 9000\n  ceiling:\n    memory_mb: 4096\n";
  assert.throws(
    () => parseConfig(text, "robot.yaml"),
    /robot\.yaml:3: sandbox\.defaults\.memory_mb: 9000 is over sandbox\.ceiling\.memory_mb \(4096\)/,
  );
  assert.throws(
    () => parseConfig("sandbox:\n  defaults:\n    write: [/etc]\n"),
    /sandbox\.defaults\.write: \/etc is outside sandbox\.ceiling\.write/,
  );
  assert.throws(
    () => parseConfig("sandbox:\n  ceiling:\n    net: false\n"),
    /sandbox\.defaults\.net: true, but sandbox\.ceiling says false/,
  );
});

Deno.test("parseConfig checks sandbox paths, layers and the cgroup setting", () => {
  assert.throws(
    () => parseConfig("sandbox:\n  ceiling:\n    read: [relative]\n"),
    /sandbox\.ceiling\.read: expected a list of absolute paths/,
  );
  assert.throws(
    () => parseConfig("sandbox:\n  pretend_missing: [selinux]\n"),
    /sandbox\.pretend_missing: expected a list of landlock, netns, seccomp, cgroup, user, view/,
  );
  assert.throws(() => parseConfig("sandbox:\n  cgroup: mine\n"), /sandbox\.cgroup: expected auto/);
  const config = parseConfig("sandbox:\n  ceiling:\n    write: [/tmp/../srv/, /mnt]\n");
  assert.deepEqual(config.sandbox.ceiling.write, ["/srv", "/mnt"]);
});
