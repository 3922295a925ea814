/**
 * The Python client (client/python) against a real agent: its unittest suite runs under
 * Debian's Python, which has `websockets`, and under the robot's Python 3.8.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startAgent } from "./_agent.ts";

const PYTHON_DIR = join(import.meta.dirname ?? ".", "..", "client", "python");
const PACKAGE = join(PYTHON_DIR, "robot_agent_client");
/** Debian's interpreter: the one with `websockets` (python3-websockets). */
const SYSTEM_PYTHON = "/usr/bin/python3";
/** Where Debian keeps that `websockets`. */
const DEBIAN_WEBSOCKETS = "/usr/lib/python3/dist-packages/websockets";
/** The robot's Python, when this machine has it. */
const PYTHON_38 = join(Deno.env.get("HOME") ?? "/root", ".pyenv/versions/3.8.18/bin/python3");

async function run(
  python: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; output: string }> {
  const result = await new Deno.Command(python, {
    args,
    cwd: PYTHON_DIR,
    env: { PYTHONDONTWRITEBYTECODE: "1", ...env },
    stdin: "null",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: result.code, output: decode(result.stdout) + decode(result.stderr) };
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("the Python client's tests pass against a real agent", async () => {
  await using agent = await startAgent();
  const result = await run(
    SYSTEM_PYTHON,
    ["-m", "unittest", "discover", "-s", "tests", "-t", ".", "-v"],
    { ROBOT_AGENT_URL: agent.url },
  );
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /^Ran (\d+) tests/m);
  assert.ok(!/skipped/.test(result.output), result.output);
});

Deno.test("the Python client compiles and passes its tests under the robot's Python 3.8", async () => {
  if (!await exists(PYTHON_38)) return;
  const files = [];
  for await (const entry of Deno.readDir(PACKAGE)) {
    if (entry.name.endsWith(".py")) files.push(join(PACKAGE, entry.name));
  }
  const script = "import sys\nfor f in sys.argv[1:]:\n    compile(open(f).read(), f, 'exec')";
  const compiled = await run(PYTHON_38, ["-c", script, ...files]);
  assert.equal(compiled.code, 0, compiled.output);
  // Debian's websockets 10.4 is pure Python and supports 3.7+: lend it to 3.8 alone,
  // without the rest of Debian's packages.
  const lent = await Deno.makeTempDir({ prefix: "robot-agent-py38-" });
  try {
    await Deno.symlink(DEBIAN_WEBSOCKETS, join(lent, "websockets"));
    await using agent = await startAgent();
    const result = await run(
      PYTHON_38,
      ["-m", "unittest", "discover", "-s", "tests", "-t", ".", "-v"],
      { ROBOT_AGENT_URL: agent.url, PYTHONPATH: lent },
    );
    assert.equal(result.code, 0, result.output);
    assert.ok(!/skipped/.test(result.output), result.output);
  } finally {
    await Deno.remove(lent, { recursive: true });
  }
});
