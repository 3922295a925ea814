import assert from "node:assert/strict";
import { Uint8ArrayReader, Uint8ArrayWriter, ZipReader } from "@zip.js/zip.js";
import { crc32, keptFiles, withoutTopFolder, zipFiles } from "./_zip.ts";

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("zipFiles makes a zip other readers open, with modes and the ignored files left out", async () => {
  const elf = new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]);
  const zip = await zipFiles([
    { path: "main.py", data: text("print('hi')\n".repeat(50)), modified: Date.UTC(2024, 5, 1) },
    { path: "bin/robot", data: elf, modified: Date.UTC(2024, 5, 1) },
    { path: "__pycache__/main.cpython-311.pyc", data: text("x"), modified: 0 },
  ]);
  const reader = new ZipReader(new Uint8ArrayReader(zip));
  const entries = await reader.getEntries();
  assert.deepEqual(entries.map((e) => e.filename), ["bin/robot", "main.py"]);
  const modes = entries.map((e) => (e.externalFileAttributes >>> 16) & 0o777);
  assert.deepEqual(modes, [0o755, 0o644]);
  const main = entries[1] as typeof entries[1] & {
    getData(writer: Uint8ArrayWriter): Promise<Uint8Array>;
  };
  assert.equal(
    new TextDecoder().decode(await main.getData(new Uint8ArrayWriter())),
    "print('hi')\n".repeat(50),
  );
  assert.ok(entries[1].compressedSize < entries[1].uncompressedSize, "main.py was not deflated");
  await reader.close();
});

Deno.test("zipFiles gives the same zip for the same files in any order", async () => {
  const a = { path: "a.py", data: text("a"), modified: Date.UTC(2024, 0, 1) };
  const b = { path: "b/c.py", data: text("c"), modified: Date.UTC(2024, 0, 1) };
  assert.deepEqual(await zipFiles([a, b]), await zipFiles([b, a]));
});

Deno.test("crc32 matches the standard check value", () => {
  assert.equal(crc32(text("123456789")), 0xcbf43926);
});

Deno.test("keptFiles and withoutTopFolder keep what the command line keeps, .robotignore too", () => {
  const paths = [
    "proj/main.py",
    "proj/lib/x.py",
    "proj/.robotignore",
    "proj/.git/HEAD",
    "proj/lib/__pycache__/x.cpython-38.pyc",
    "proj/recordings/run1.bag",
    "proj/weights.bin",
    "proj/keep.bin",
  ];
  const files = withoutTopFolder(paths.map((path) => ({
    path,
    data: text(path.endsWith(".robotignore") ? "recordings/\n*.bin\n!keep.bin\n" : ""),
    modified: 0,
  })));
  assert.equal(files[0].path, "main.py");
  assert.deepEqual(keptFiles(files).map((f) => f.path), ["main.py", "lib/x.py", "keep.bin"]);
});
