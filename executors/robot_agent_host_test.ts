import assert from "node:assert/strict";
import { ErrorCode } from "../errors.ts";
import { definePythonSuite, EXECUTORS_DIR, runPython } from "../tests/_python_suite.ts";

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

// The host's tests start it the way the agent does: from the folder holding the package.
definePythonSuite("robot_agent_host", "robot_agent_host_tests");

Deno.test("every .py file under executors/ parses as Python 3.8", async () => {
  const files = await pythonFiles(EXECUTORS_DIR);
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
