import assert from "node:assert/strict";
import { join } from "node:path";
import { checkImports } from "../scripts/check_imports.ts";

const ROOT = join(import.meta.dirname ?? ".", "..");

Deno.test("checkImports finds no violation of the layering in the agent's source", async () => {
  assert.deepEqual(await checkImports(ROOT), []);
});

Deno.test("checkImports reports upward imports, private imports and cycles", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const folder of ["gateway", "worker", "executors", "ipc"]) {
      await Deno.mkdir(join(dir, folder));
    }
    for (const file of ["config.ts", "errors.ts", "log.ts"]) {
      await Deno.writeTextFile(join(dir, file), "");
    }
    await Deno.writeTextFile(join(dir, "main.ts"), 'import "./gateway/mod.ts";\n');
    await Deno.writeTextFile(join(dir, "gateway/mod.ts"), 'export * from "../worker/mod.ts";\n');
    await Deno.writeTextFile(
      join(dir, "worker/mod.ts"),
      'import { x } from "../executors/_python.ts";\n',
    );
    await Deno.writeTextFile(join(dir, "executors/_python.ts"), 'import { y } from "./mod.ts";\n');
    await Deno.writeTextFile(join(dir, "executors/mod.ts"), 'export { x } from "./_python.ts";\n');
    await Deno.writeTextFile(join(dir, "ipc/mod.ts"), 'import { z } from "../executors/mod.ts";\n');
    const problems = await checkImports(dir);
    assert.ok(
      problems.some((p) => p.includes("gateway may not depend on worker")),
      problems.join("\n"),
    );
    assert.ok(problems.some((p) => p.includes("use executors/mod.ts")), problems.join("\n"));
    assert.ok(
      problems.some((p) => p.includes("ipc may not depend on executors")),
      problems.join("\n"),
    );
    assert.ok(problems.some((p) => p.startsWith("import cycle: executors/")), problems.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkImports reports node: and npm imports the worker process loads at start-up", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const folder of ["worker", "executors"]) await Deno.mkdir(join(dir, folder));
    await Deno.writeTextFile(join(dir, "main.ts"), 'import { a } from "./log.ts";\n');
    await Deno.writeTextFile(join(dir, "log.ts"), 'import { b } from "@logtape/logtape";\n');
    await Deno.writeTextFile(
      join(dir, "worker/mod.ts"),
      'import type { Hash } from "node:crypto";\nimport { c } from "../executors/mod.ts";\n' +
        'const lazy = () => import("node:zlib");\n',
    );
    await Deno.writeTextFile(join(dir, "executors/mod.ts"), 'import { join } from "node:path";\n');
    const problems = (await checkImports(dir)).filter((p) => p.includes("start-up"));
    assert.deepEqual(problems.map((p) => p.split(":")[0]).sort(), ["executors/mod.ts", "log.ts"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkImports refuses gateway → executors, dynamic imports included, and export *", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const folder of ["gateway", "executors", "ipc"]) await Deno.mkdir(join(dir, folder));
    await Deno.writeTextFile(
      join(dir, "gateway/mod.ts"),
      'export { a } from "./_a.ts";\nconst lazy = () => import("../executors/mod.ts");\n',
    );
    await Deno.writeTextFile(join(dir, "gateway/_a.ts"), "export const a = 1;\n");
    await Deno.writeTextFile(join(dir, "executors/mod.ts"), 'export * from "../ipc/mod.ts";\n');
    await Deno.writeTextFile(join(dir, "ipc/mod.ts"), "export const b = 2;\n");
    const problems = await checkImports(dir);
    assert.ok(
      problems.some((p) =>
        p.startsWith("gateway/mod.ts") && p.includes("may not depend on executors")
      ),
      problems.join("\n"),
    );
    assert.ok(
      problems.some((p) => p.startsWith("executors/mod.ts") && p.includes("export *")),
      problems.join("\n"),
    );
    assert.equal(problems.length, 2, problems.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkImports lets client/ import only types from the agent, and no packages", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(join(dir, "client"));
    await Deno.writeTextFile(join(dir, "errors.ts"), "export const E = 1;\n");
    await Deno.writeTextFile(
      join(dir, "client/mod.ts"),
      'export { a } from "./_a.ts";\nimport type { E } from "../errors.ts";\n',
    );
    await Deno.writeTextFile(
      join(dir, "client/_a.ts"),
      'import { E } from "../errors.ts";\nimport { parse } from "yaml";\nexport const a = 1;\n',
    );
    const problems = await checkImports(dir);
    assert.deepEqual(problems.map((p) => p.split(": imports ")[1].split(" ")[0]).sort(), [
      "errors.ts",
      "yaml",
    ]);
    assert.ok(problems.every((p) => p.startsWith("client/_a.ts")), problems.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkImports lets other layers load fleet/ only dynamically, and NATS only in fleet/", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const folder of ["cli", "fleet", "gateway"]) await Deno.mkdir(join(dir, folder));
    await Deno.writeTextFile(
      join(dir, "cli/mod.ts"),
      'import { a } from "../fleet/mod.ts";\nimport type { B } from "../fleet/mod.ts";\n' +
        'const lazy = () => import("../fleet/mod.ts");\n',
    );
    await Deno.writeTextFile(
      join(dir, "fleet/mod.ts"),
      'import { connect } from "@nats-io/transport-node";\nexport const a = 1;\n',
    );
    await Deno.writeTextFile(
      join(dir, "gateway/mod.ts"),
      'import { Kvm } from "@nats-io/kv";\nexport const g = 1;\n',
    );
    const problems = await checkImports(dir);
    assert.deepEqual(problems.map((p) => p.split(":")[0]).sort(), ["cli/mod.ts", "gateway/mod.ts"]);
    assert.ok(
      problems.some((p) => p.includes("load fleet/ with a dynamic import()")),
      problems.join("\n"),
    );
    assert.ok(problems.some((p) => p.includes("which only fleet/ may use")), problems.join("\n"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
