import assert from "node:assert/strict";
import { validateConfig } from "../config.ts";
import { AgentError } from "../errors.ts";
import {
  admitPermissions,
  effectivePermissions,
  excessOf,
  parsePermissions,
} from "./_permissions.ts";

const { defaults, ceiling } = validateConfig({}).sandbox;
const STORAGE = "/var/lib/robot-agent";
const fail = (what: string) => new TypeError(what);

Deno.test("parsePermissions normalizes paths and checks each key's type", () => {
  assert.deepEqual(
    parsePermissions({ read: ["/opt/maps/", "/tmp/../etc"], net: false, memory_mb: 512 }, fail),
    { read: ["/opt/maps", "/etc"], net: false, memory_mb: 512 },
  );
  for (
    const [value, message] of [
      [[], /must be an object/],
      [{ colour: 1 }, /unknown key 'colour'/],
      [{ write: ["relative"] }, /'permissions.write' must be a list of absolute paths/],
      [{ run: "yes" }, /'permissions.run' must be true or false/],
      [{ processes: 0 }, /'permissions.processes' must be a positive integer/],
      [{ open_files: 1.5 }, /'permissions.open_files' must be a positive integer/],
    ] as const
  ) {
    assert.throws(() => parsePermissions(value, fail), message);
  }
});

Deno.test("excessOf names each path, flag and limit beyond the ceiling, and any storage path", () => {
  const low = { ...ceiling, net: false, memory_mb: 1024 };
  const excess = excessOf(
    {
      read: ["/opt/maps", `${STORAGE}/auth`, "/var"],
      write: ["/etc", "/tmp/walker"],
      net: true,
      memory_mb: 4096,
      processes: 10,
    },
    low,
    STORAGE,
  );
  assert.deepEqual(excess.map((e) => [e.permission, e.asked]), [
    ["read", `${STORAGE}/auth`],
    ["read", "/var"],
    ["write", "/etc"],
    ["net", true],
    ["memory_mb", 4096],
  ]);
  assert.equal(excess[0].reason, "the agent's storage is never granted");
  assert.deepEqual(excessOf({ write: ["/tmp/walker"], net: false }, low, STORAGE), []);
});

Deno.test("admitPermissions refuses with PERMISSION_DENIED naming every excess", () => {
  assert.throws(
    () =>
      admitPermissions({ write: ["/etc"], memory_mb: 999_999 }, {
        ceiling,
        storage: STORAGE,
        action: "deploy project",
      }),
    (error: unknown) => {
      assert.ok(error instanceof AgentError);
      assert.equal(error.code, "PERMISSION_DENIED");
      assert.match(error.message, /^Cannot deploy project: robot-agent\.json asks beyond/);
      assert.match(error.message, /write \/etc \(outside \/tmp, \/var\/tmp, \/media, \/mnt\)/);
      assert.match(error.message, /memory_mb 999999 \(the ceiling is 16384\)/);
      assert.equal((error.data?.excess as unknown[]).length, 2);
      return true;
    },
  );
  admitPermissions({ net: false }, { ceiling, storage: STORAGE, action: "deploy project" });
});

Deno.test("effectivePermissions adds asked paths to the defaults and replaces the rest", () => {
  const merged = effectivePermissions(
    { write: ["/tmp/w"], net: false, processes: 8 },
    { ...defaults, write: ["/media"] },
  );
  assert.deepEqual(merged.write, ["/media", "/tmp/w"]);
  assert.equal(merged.net, false);
  assert.equal(merged.processes, 8);
  assert.equal(merged.memory_mb, defaults.memory_mb);
});
