import assert from "node:assert/strict";
import { joinPath } from "../paths.ts";
import { installRuntime } from "./_runtime.ts";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("installRuntime writes the host package python3 -m runs from", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runtime-" });
  try {
    const runtime = await installRuntime(dir);
    assert.deepEqual(runtime, {
      hostPath: dir,
      defaultProject: joinPath(dir, "default_project"),
    });
    for (const name of ["__init__.py", "__main__.py", "codes.py", "host.py"]) {
      assert.ok(await exists(joinPath(dir, "robot_agent_host", name)), name);
    }
    assert.ok(await exists(joinPath(runtime.defaultProject, "main.py")));
    const { code, stdout } = await new Deno.Command("python3", {
      args: ["-B", "-m", "robot_agent_host", "--help"],
      cwd: runtime.hostPath,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    assert.equal(code, 0);
    assert.match(new TextDecoder().decode(stdout), /--socket SOCKET/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("installRuntime removes what an older agent left, but not python3's bytecode", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runtime-" });
  const packageDir = joinPath(dir, "robot_agent_host");
  try {
    await Deno.mkdir(joinPath(packageDir, "__pycache__"), { recursive: true });
    await Deno.writeTextFile(joinPath(dir, "python_host.py"), "# the old single-file host\n");
    await Deno.writeTextFile(joinPath(packageDir, "retired.py"), "# a module since removed\n");
    await Deno.writeTextFile(joinPath(packageDir, "host.py"), "# an older version\n");
    await Deno.writeTextFile(joinPath(packageDir, "__pycache__", "host.pyc"), "");
    await installRuntime(dir);
    assert.equal(await exists(joinPath(dir, "python_host.py")), false);
    assert.equal(await exists(joinPath(packageDir, "retired.py")), false);
    assert.ok(await exists(joinPath(packageDir, "__pycache__", "host.pyc")));
    const source = new URL("robot_agent_host/host.py", import.meta.url);
    assert.equal(
      await Deno.readTextFile(joinPath(packageDir, "host.py")),
      await Deno.readTextFile(source),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("installRuntime writes the launcher package, every file readable by the project's user", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runtime-" });
  try {
    await installRuntime(dir);
    // A file an agent with a stricter umask wrote before is made readable again.
    await Deno.chmod(joinPath(dir, "robot_agent_sandbox", "confine.py"), 0o600);
    await Deno.chmod(joinPath(dir, "robot_agent_host"), 0o700);
    await installRuntime(dir);
    for (const name of ["__main__.py", "confine.py", "landlock.py", "supervisor.py"]) {
      const info = await Deno.stat(joinPath(dir, "robot_agent_sandbox", name));
      assert.equal(info.mode! & 0o777, 0o644, name);
    }
    for (const folder of ["", "robot_agent_host", "robot_agent_sandbox", "default_project"]) {
      assert.equal((await Deno.stat(joinPath(dir, folder))).mode! & 0o777, 0o755, folder);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("installRuntime compiles the packages' bytecode when their sources were written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "runtime-" });
  try {
    await installRuntime(dir, { compileWith: "python3" });
    const compiled = [...Deno.readDirSync(joinPath(dir, "robot_agent_host", "__pycache__"))];
    assert.ok(compiled.some((entry) => entry.name.startsWith("host.")), JSON.stringify(compiled));
    assert.ok(await exists(joinPath(dir, "robot_agent_sandbox", "__pycache__")));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
