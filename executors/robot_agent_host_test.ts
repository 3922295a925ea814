import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { ErrorCode } from "../errors.ts";

const executorsDir = fileURLToPath(new URL(".", import.meta.url)).replace(/\/$/, "");
const PYTHON_38 = `${Deno.env.get("HOME") ?? ""}/.pyenv/versions/3.8.18/bin/python3`;

// Runs the host's tests the way the agent starts the host: from the folder holding the
// package. No bytecode is written, so the source tree holds nothing `deno compile` would
// embed besides the sources.
const UNITTEST_ARGS = [
  "-m",
  "unittest",
  "discover",
  "--start-directory",
  "robot_agent_host_tests",
  "--top-level-directory",
  ".",
];

// Parses each file named on the command line as Python 3.8 and lists the failures.
const PARSE_AS_PYTHON_38 = `
import ast, sys
failed = 0
for path in sys.argv[1:]:
    try:
        with open(path, encoding="utf-8") as file:
            ast.parse(file.read(), filename=path, feature_version=(3, 8))
    except SyntaxError as exc:
        failed += 1
        print(f"{path}:{exc.lineno}: {exc.msg}")
sys.exit(1 if failed else 0)
`;

const PRINT_ERROR_CODES =
  "import json; from robot_agent_host.codes import ERROR_CODES; print(json.dumps(ERROR_CODES))";

async function runPython(
  interpreter: string,
  args: string[],
): Promise<{ code: number; stdout: string; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command(interpreter, {
    args,
    cwd: executorsDir,
    env: { PYTHONDONTWRITEBYTECODE: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const out = decoder.decode(stdout);
  return { code, stdout: out, output: out + decoder.decode(stderr) };
}

async function pythonFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory && entry.name !== "__pycache__") {
      files.push(...await pythonFiles(path));
    } else if (entry.isFile && entry.name.endsWith(".py")) {
      files.push(path);
    }
  }
  return files;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

async function assertSuitePasses(interpreter: string): Promise<void> {
  const { code, output } = await runPython(interpreter, UNITTEST_ARGS);
  assert.equal(code, 0, `${interpreter} -m unittest failed with exit code ${code}:\n${output}`);
  assert.match(
    output,
    /^Ran [1-9]\d* tests? in /m,
    `no tests ran under ${interpreter}:\n${output}`,
  );
}

Deno.test("robot_agent_host passes its unittest suite under python3", async () => {
  await assertSuitePasses("python3");
});

const hasPython38 = isFile(PYTHON_38);
Deno.test({
  name: hasPython38
    ? "robot_agent_host passes its unittest suite under Python 3.8"
    : `robot_agent_host passes its unittest suite under Python 3.8: skipped, no ${PYTHON_38}`,
  ignore: !hasPython38,
  fn: () => assertSuitePasses(PYTHON_38),
});

Deno.test("every .py file under executors/ parses as Python 3.8", async () => {
  const files = await pythonFiles(executorsDir);
  assert.ok(
    files.some((file) => file.endsWith("/robot_agent_host/__main__.py")),
    `robot_agent_host/__main__.py is missing from the files found: ${files.join(", ")}`,
  );
  const { code, output } = await runPython("python3", ["-c", PARSE_AS_PYTHON_38, ...files]);
  assert.equal(code, 0, `Files that are not valid Python 3.8:\n${output}`);
});

Deno.test("every error code robot_agent_host sends is an ErrorCode", async () => {
  const { code, stdout, output } = await runPython("python3", ["-c", PRINT_ERROR_CODES]);
  assert.equal(code, 0, `Cannot read robot_agent_host/codes.py:\n${output}`);
  const codes: unknown = JSON.parse(stdout);
  assert.ok(Array.isArray(codes) && codes.length > 0, `not a list of codes: ${stdout}`);
  const known: Record<string, string> = ErrorCode;
  const unknown = codes.filter((code) => !Object.hasOwn(known, code) || known[code] !== code);
  assert.deepEqual(unknown, [], `codes.py has codes that errors.ts's ErrorCode lacks`);
});
