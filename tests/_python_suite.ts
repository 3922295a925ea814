/**
 * Test support: runs a Python package's unittest suite from `executors/` (the folder the
 * agent starts its Python packages from), under python3 and under the robot's Python 3.8
 * when this machine has it (pyenv's 3.8.18), as two Deno tests.
 *
 * @module
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

/** The folder holding the agent's Python packages and their test folders. */
export const EXECUTORS_DIR = fileURLToPath(new URL("../executors/", import.meta.url)).replace(
  /\/$/,
  "",
);

/** The robot's Python, when pyenv has it here. */
export const PYTHON_38 = `${Deno.env.get("HOME") ?? ""}/.pyenv/versions/3.8.18/bin/python3`;

/** Runs `interpreter ARGS…` in `executors/` without writing bytecode into the source tree. */
export async function runPython(
  interpreter: string,
  args: string[],
): Promise<{ code: number; stdout: string; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command(interpreter, {
    args,
    cwd: EXECUTORS_DIR,
    env: { PYTHONDONTWRITEBYTECODE: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const out = decoder.decode(stdout);
  return { code, stdout: out, output: out + decoder.decode(stderr) };
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

async function assertSuitePasses(interpreter: string, tests: string): Promise<void> {
  const args = [
    "-m",
    "unittest",
    "discover",
    "--start-directory",
    tests,
    "--top-level-directory",
    ".",
  ];
  const { code, output } = await runPython(interpreter, args);
  assert.equal(code, 0, `${interpreter} -m unittest failed with exit code ${code}:\n${output}`);
  assert.match(
    output,
    /^Ran [1-9]\d* tests? in /m,
    `no tests ran under ${interpreter}:\n${output}`,
  );
}

/**
 * Defines "PACKAGE passes its unittest suite under python3" and "… under Python 3.8" for
 * the suite in `executors/TESTS` (the 3.8 one ignored, and named so, without 3.8 here).
 */
export function definePythonSuite(name: string, tests: string): void {
  Deno.test(`${name} passes its unittest suite under python3`, async () => {
    await assertSuitePasses("python3", tests);
  });
  const has38 = isFile(PYTHON_38);
  Deno.test({
    name: has38
      ? `${name} passes its unittest suite under Python 3.8`
      : `${name} passes its unittest suite under Python 3.8: skipped, no ${PYTHON_38}`,
    ignore: !has38,
    fn: () => assertSuitePasses(PYTHON_38, tests),
  });
}
