import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const executorsDir = fileURLToPath(new URL(".", import.meta.url)).replace(/\/$/, "");
const PYTHON_38 = `${Deno.env.get("HOME") ?? ""}/.pyenv/versions/3.8.18/bin/python3`;

// The launcher's tests start the launcher the way the agent does: `-m` from the folder
// holding the package. No bytecode is written into the source tree.
const UNITTEST_ARGS = [
  "-m",
  "unittest",
  "discover",
  "--start-directory",
  "robot_agent_sandbox_tests",
  "--top-level-directory",
  ".",
];

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

async function assertSuitePasses(interpreter: string): Promise<void> {
  const { code, stdout, stderr } = await new Deno.Command(interpreter, {
    args: UNITTEST_ARGS,
    cwd: executorsDir,
    env: { PYTHONDONTWRITEBYTECODE: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const output = decoder.decode(stdout) + decoder.decode(stderr);
  assert.equal(code, 0, `${interpreter} -m unittest failed with exit code ${code}:\n${output}`);
  assert.match(
    output,
    /^Ran [1-9]\d* tests? in /m,
    `no tests ran under ${interpreter}:\n${output}`,
  );
}

Deno.test("robot_agent_sandbox passes its unittest suite under python3", async () => {
  await assertSuitePasses("python3");
});

const hasPython38 = isFile(PYTHON_38);
Deno.test({
  name: hasPython38
    ? "robot_agent_sandbox passes its unittest suite under Python 3.8"
    : `robot_agent_sandbox passes its unittest suite under Python 3.8: skipped, no ${PYTHON_38}`,
  ignore: !hasPython38,
  fn: () => assertSuitePasses(PYTHON_38),
});
