import assert from "node:assert/strict";
import { validateConfig } from "../config.ts";
import { AgentError } from "../errors.ts";
import type { ProjectMeta } from "./_project_store.ts";
import { sandboxSpec } from "./_sandbox_spec.ts";

const RUNTIME = { hostPath: "/srv/storage/runtime", defaultProject: "/srv/storage/runtime/dp" };

function meta(fields: Partial<ProjectMeta>): ProjectMeta {
  return {
    version: 4,
    type: "python",
    root: "/srv/storage/projects/v000004/files",
    entry: "main.py",
    args: [],
    name: "walker",
    permissions: {},
    files: 1,
    bytes: 1,
    deployedAt: "",
    ...fields,
  };
}

Deno.test("sandboxSpec gives a project its defaults, its grants and its name's folders", () => {
  const config = validateConfig({ storage: { dir: "/srv/storage" } });
  const spec = sandboxSpec(
    config,
    meta({ permissions: { write: ["/tmp/walker"], net: false, memory_mb: 512 } }),
    RUNTIME,
  );
  assert.deepEqual(spec.exec, [RUNTIME.hostPath, "/srv/storage/projects/v000004/files"]);
  assert.deepEqual(spec.write, ["/tmp/walker"]);
  assert.equal(spec.net, false);
  assert.deepEqual(spec.limits, {
    memory_mb: 512,
    processes: 512,
    open_files: 4096,
    file_size_mb: 4096,
  });
  assert.equal(spec.data, "/srv/storage/data/walker");
  assert.deepEqual(spec.env, {
    ROBOT_AGENT_DATA: "/srv/storage/data/walker",
    TMPDIR: "/srv/storage/tmp/walker",
  });
  assert.equal(spec.storage, "/srv/storage");
  const cpp = sandboxSpec(config, meta({ type: "cpp", entry: "app" }), RUNTIME);
  assert.deepEqual(cpp.exec, ["/srv/storage/projects/v000004/files"]);
  assert.equal(cpp.exec_hint, undefined);
});

Deno.test("sandboxSpec refuses a version asking beyond a ceiling lowered since its UPDATE", () => {
  const config = validateConfig({
    storage: { dir: "/srv/storage" },
    sandbox: { defaults: { net: false }, ceiling: { net: false } },
  });
  assert.throws(
    () => sandboxSpec(config, meta({ permissions: { net: true } }), RUNTIME),
    (error: unknown) =>
      error instanceof AgentError && error.code === "PERMISSION_DENIED" &&
      /^Cannot start version 4: .*net/.test(error.message),
  );
});
