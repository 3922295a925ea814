import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const executorsDir = fileURLToPath(new URL(".", import.meta.url));

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

async function runPython(args: string[]): Promise<{ code: number; output: string }> {
  const { code, stdout, stderr } = await new Deno.Command("python3", {
    args,
    cwd: repoRoot,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
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

Deno.test("python_host.py passes its unittest suite", async () => {
  const { code, output } = await runPython(["-m", "unittest", "executors/python_host_test.py"]);
  assert.equal(code, 0, `python3 -m unittest failed with exit code ${code}:\n${output}`);
});

Deno.test("every .py file under executors/ parses as Python 3.8", async () => {
  const files = await pythonFiles(executorsDir.replace(/\/$/, ""));
  assert.ok(
    files.some((file) => file.endsWith("/python_host.py")),
    `python_host.py is missing from the files found: ${files.join(", ")}`,
  );
  const { code, output } = await runPython(["-c", PARSE_AS_PYTHON_38, ...files]);
  assert.equal(code, 0, `Files that are not valid Python 3.8:\n${output}`);
});
