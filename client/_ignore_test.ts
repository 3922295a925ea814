import assert from "node:assert/strict";
import { folderRules, isIgnored, isIgnoredFile, parseIgnore } from "./mod.ts";

Deno.test("parseIgnore and isIgnored follow .gitignore's rules", () => {
  const rules = parseIgnore(
    "# comment\n\n*.log\n/build\ndata/\ndocs/*.md\n**/tmp/**\n!keep.log\nsecret?.txt\n",
  );
  const cases: [string, boolean, boolean][] = [
    ["a.log", false, true],
    ["deep/b.log", false, true],
    ["keep.log", false, false],
    ["build", true, true],
    ["src/build", true, false],
    ["data", true, true],
    ["data", false, false],
    ["x/data", true, true],
    ["docs/a.md", false, true],
    ["docs/sub/a.md", false, false],
    ["a/tmp/b/c.py", false, true],
    ["secret1.txt", false, true],
    ["secret12.txt", false, false],
    ["main.py", false, false],
  ];
  for (const [path, isFolder, expected] of cases) {
    assert.equal(isIgnored(path, isFolder, rules), expected, path);
  }
});

Deno.test("isIgnoredFile leaves out a file under an ignored folder, as a folder walk does", () => {
  const rules = folderRules("build/\n/secrets\n*.bag\n!keep.bag\n");
  const cases: [string, boolean][] = [
    ["main.py", false],
    [".robotignore", true],
    ["sub/.robotignore", false],
    [".git/HEAD", true],
    ["pkg/__pycache__/m.cpython-38.pyc", true],
    ["photos/.DS_Store", true],
    ["build/out/main", true],
    ["src/build/x.o", true],
    ["secrets/key", true],
    ["src/secrets/readme", false],
    ["logs/run.bag", true],
    ["logs/keep.bag", false],
  ];
  for (const [path, expected] of cases) assert.equal(isIgnoredFile(path, rules), expected, path);
});
