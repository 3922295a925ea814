import assert from "node:assert/strict";
import { join } from "node:path";
import { Uint8ArrayReader, ZipReader } from "@zip.js/zip.js";
import { zipFolder } from "./_zip_folder.ts";

async function entries(zip: Uint8Array): Promise<Map<string, number>> {
  const reader = new ZipReader(new Uint8ArrayReader(zip), { useWebWorkers: false });
  const out = new Map<string, number>();
  for (const entry of await reader.getEntries()) {
    out.set(entry.filename, (entry.externalFileAttributes >>> 16) & 0o777);
  }
  await reader.close();
  return out;
}

async function folder(files: Record<string, string>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "zip-folder-test-" });
  for (const [path, content] of Object.entries(files)) {
    await Deno.mkdir(join(dir, path, ".."), { recursive: true });
    await Deno.writeTextFile(join(dir, path), content);
  }
  return dir;
}

Deno.test("zipFolder leaves out .git, __pycache__, *.pyc and .robotignore's globs", async () => {
  const dir = await folder({
    "main.py": "x = 1\n",
    "pkg/util.py": "y = 2\n",
    "pkg/util.pyc": "compiled",
    "__pycache__/main.cpython-311.pyc": "compiled",
    ".git/HEAD": "ref",
    "logs/run.log": "log",
    "notes.tmp": "tmp",
    ".robotignore": "logs/\n*.tmp\n",
  });
  try {
    const zipped = await zipFolder(dir);
    assert.deepEqual(zipped.files, ["main.py", "pkg/util.py"]);
    assert.deepEqual([...(await entries(zipped.zip)).keys()], ["main.py", "pkg/util.py"]);
    assert.equal(zipped.skipped, 6);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("zipFolder keeps Unix modes, so an executable stays executable", async () => {
  const dir = await folder({ "bin/app": "#!/bin/sh\n", "readme.txt": "hi" });
  try {
    await Deno.chmod(join(dir, "bin/app"), 0o755);
    await Deno.chmod(join(dir, "readme.txt"), 0o640);
    const modes = await entries((await zipFolder(dir)).zip);
    assert.equal(modes.get("bin/app"), 0o755);
    assert.equal(modes.get("readme.txt"), 0o640);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("zipFolder makes the same bytes twice for the same folder (so a re-run resumes)", async () => {
  const dir = await folder({ "main.py": "x = 1\n", "a/b.py": "y = 2\n" });
  try {
    const first = await zipFolder(dir);
    const second = await zipFolder(dir);
    assert.deepEqual(first.zip, second.zip);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("zipFolder refuses a folder with nothing left to deploy", async () => {
  const dir = await folder({ "a.pyc": "x", ".robotignore": "*\n" });
  try {
    await assert.rejects(zipFolder(dir), RangeError);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
