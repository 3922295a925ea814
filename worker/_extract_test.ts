import assert from "node:assert/strict";
import {
  configure,
  TextReader,
  Uint8ArrayReader,
  Uint8ArrayWriter,
  ZipWriter,
  type ZipWriterAddDataOptions,
} from "@zip.js/zip.js";
import { AgentError, type ErrorCode } from "../errors.ts";
import { type ExtractOptions, extractZip } from "./_extract.ts";
import { decodeCp437 } from "./_zip_reader.ts";
import { crc32, rawZip } from "../tests/_zip_craft.ts";

configure({ useWebWorkers: false });

const LIMITS: ExtractOptions = {
  maxEntries: 10_000,
  maxUncompressedBytes: 64 * 1024 * 1024,
  maxRatio: 100,
};

type Content = string | Uint8Array;

/** Builds a zip with zip.js itself, as a well-behaved client would. */
async function zipOf(
  files: [name: string, content: Content | null, options?: ZipWriterAddDataOptions][],
  options: { zip64?: boolean; password?: string } = {},
): Promise<Uint8Array> {
  const writer = new ZipWriter(new Uint8ArrayWriter(), options);
  for (const [name, content, entryOptions] of files) {
    const reader = content === null
      ? undefined
      : typeof content === "string"
      ? new TextReader(content)
      : new Uint8ArrayReader(content);
    await writer.add(name, reader, { directory: content === null, ...entryOptions });
  }
  return await writer.close();
}

async function deflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

const BOMB_BYTES = 50 * 1024 * 1024;
let bomb: Promise<Uint8Array> | undefined;

/** 50 MiB of zeros, deflated to about 50 KiB; made once, as it takes a while. */
function deflatedBomb(): Promise<Uint8Array> {
  bomb ??= deflateRaw(new Uint8Array(BOMB_BYTES));
  return bomb;
}

async function withTempDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "extract_test_" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = prefix + entry.name;
    names.push(entry.isDirectory ? `${path}/` : path);
    if (entry.isDirectory) names.push(...await listTree(`${dir}/${entry.name}`, `${path}/`));
  }
  return names.sort();
}

async function assertRefused(
  source: Uint8Array | string,
  code: ErrorCode,
  pattern: RegExp,
  limits: ExtractOptions = LIMITS,
): Promise<void> {
  await withTempDir(async (dest) => {
    await assert.rejects(extractZip(source, dest, limits), (error) => {
      assert.ok(error instanceof AgentError, `not an AgentError: ${error}`);
      assert.equal(error.code, code, error.message);
      assert.match(error.message, /^Cannot extract project: /);
      assert.match(error.message, pattern);
      return true;
    });
    assert.deepEqual(await listTree(dest), [], "a refused zip left files behind");
  });
}

Deno.test("extractZip writes files, nested folders and contents", async () => {
  const zip = await zipOf([
    ["main.py", "print('hi')\n"],
    ["pkg/", null],
    ["pkg/util/helpers.py", "X = 1\n"],
    ["data/empty.txt", ""],
  ]);
  const original = zip.slice();
  await withTempDir(async (dest) => {
    const result = await extractZip(zip, dest, LIMITS);
    assert.deepEqual(zip, original, "the source bytes changed");
    assert.deepEqual(result, { entries: 4, files: 3, bytes: 18 });
    assert.deepEqual(await listTree(dest), [
      "data/",
      "data/empty.txt",
      "main.py",
      "pkg/",
      "pkg/util/",
      "pkg/util/helpers.py",
    ]);
    assert.equal(await Deno.readTextFile(`${dest}/main.py`), "print('hi')\n");
    assert.equal(await Deno.readTextFile(`${dest}/pkg/util/helpers.py`), "X = 1\n");
    assert.equal(await Deno.readTextFile(`${dest}/data/empty.txt`), "");
    assert.equal((await Deno.stat(`${dest}/pkg/util`)).mode! & 0o777, 0o755);
  });
});

Deno.test("extractZip keeps executables executable and makes every file readable, writable by the agent alone", async () => {
  const zip = rawZip([
    { name: "run", data: new TextEncoder().encode("#!/bin/sh\n"), mode: 0o104755 },
    { name: "config.txt", data: new Uint8Array([1]), mode: 0o100600 },
    { name: "plain.txt", data: new Uint8Array([2]), mode: 0 },
    { name: "open.txt", data: new Uint8Array([3]), mode: 0o100666 },
    { name: "open-run", data: new Uint8Array([4]), mode: 0o100777 },
  ]);
  await withTempDir(async (dest) => {
    await extractZip(zip, dest, LIMITS);
    assert.equal((await Deno.stat(`${dest}/run`)).mode! & 0o7777, 0o755);
    assert.equal((await Deno.stat(`${dest}/config.txt`)).mode! & 0o7777, 0o644);
    assert.equal((await Deno.stat(`${dest}/plain.txt`)).mode! & 0o7777, 0o644);
    assert.equal((await Deno.stat(`${dest}/open.txt`)).mode! & 0o7777, 0o644);
    assert.equal((await Deno.stat(`${dest}/open-run`)).mode! & 0o7777, 0o755);
  });
});

Deno.test("extractZip keeps executables made by zip.js executable", async () => {
  const zip = await zipOf([
    ["bin/robot", new Uint8Array([0x7f, 0x45, 0x4c, 0x46]), { unixMode: 0o755 }],
    ["README", "read me"],
  ]);
  await withTempDir(async (dest) => {
    await extractZip(zip, dest, LIMITS);
    assert.equal((await Deno.stat(`${dest}/bin/robot`)).mode! & 0o777, 0o755);
    assert.equal((await Deno.stat(`${dest}/README`)).mode! & 0o111, 0);
  });
});

Deno.test("extractZip reads a zip file from a path", async () => {
  const big = new Uint8Array(3 * 1024 * 1024 + 17);
  for (let index = 0; index < big.length; index += 65_536) {
    crypto.getRandomValues(big.subarray(index, index + 65_536));
  }
  const zip = await zipOf([["blob.bin", big], ["src/main.py", "pass\n"]]);
  await withTempDir(async (dir) => {
    const path = `${dir}/upload.zip`;
    await Deno.writeFile(path, zip);
    const dest = `${dir}/out`;
    await Deno.mkdir(dest);
    const result = await extractZip(path, dest, LIMITS);
    assert.deepEqual(result, { entries: 2, files: 2, bytes: big.length + 5 });
    assert.deepEqual(await Deno.readFile(`${dest}/blob.bin`), big);
    assert.equal(await Deno.readTextFile(`${dest}/src/main.py`), "pass\n");
  });
});

Deno.test("extractZip reads zip64 archives", async () => {
  const zip = await zipOf([["main.py", "print(64)\n"], ["lib/a.py", "A = 1\n"]], {
    zip64: true,
  });
  await withTempDir(async (dest) => {
    await extractZip(zip, dest, LIMITS);
    assert.equal(await Deno.readTextFile(`${dest}/main.py`), "print(64)\n");
    assert.equal(await Deno.readTextFile(`${dest}/lib/a.py`), "A = 1\n");
  });
});

Deno.test("extractZip treats backslashes as separators and drops '.' segments", async () => {
  const zip = rawZip([
    { name: "src\\" },
    { name: "src\\app.py", data: new TextEncoder().encode("A") },
    { name: "./src/./b.py", data: new TextEncoder().encode("B") },
    { name: "docs\\" },
  ]);
  await withTempDir(async (dest) => {
    await extractZip(zip, dest, LIMITS);
    assert.deepEqual(await listTree(dest), ["docs/", "src/", "src/app.py", "src/b.py"]);
    assert.equal(await Deno.readTextFile(`${dest}/src/app.py`), "A");
  });
});

Deno.test("extractZip refuses data that is not a zip", async () => {
  await assertRefused(
    new TextEncoder().encode("definitely not a zip archive"),
    "BAD_ZIP",
    /the data is not a zip archive \(.+\)/,
  );
});

Deno.test("extractZip refuses a file that is not a zip", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/upload.zip`;
    await Deno.writeTextFile(path, "plain text, no zip here");
    await assertRefused(path, "BAD_ZIP", /not a zip archive/);
  });
});

Deno.test("extractZip refuses a truncated archive", async () => {
  const zip = await zipOf([["main.py", "print('hi')\n"], ["other.py", "x = 2\n"]]);
  await assertRefused(zip.slice(0, zip.length - 30), "BAD_ZIP", /not a zip archive/);
  await assertRefused(zip.slice(0, zip.length / 2), "BAD_ZIP", /not a zip archive/);
});

Deno.test("extractZip refuses an entry whose data is corrupt, removing what it wrote", async () => {
  const good = new TextEncoder().encode("good");
  const bad = new TextEncoder().encode("tampered");
  const zip = rawZip([
    { name: "a/first.py", data: good },
    { name: "second.py", data: bad, crc: crc32(good) },
  ]);
  await assertRefused(zip, "BAD_ZIP", /entry 'second.py' is corrupt/);
});

Deno.test("extractZip refuses compression methods it cannot decode", async () => {
  const zip = rawZip([{ name: "main.py", data: new Uint8Array([1, 2, 3]), method: 12 }]);
  await assertRefused(zip, "BAD_ZIP", /entry 'main.py' uses compression method 12/);
});

Deno.test("extractZip refuses an empty zip", async () => {
  await assertRefused(await zipOf([]), "EMPTY_ZIP", /no entries/);
});

Deno.test("extractZip refuses a zip holding only folders", async () => {
  await assertRefused(await zipOf([["a/", null], ["a/b/", null]]), "EMPTY_ZIP", /only folders/);
});

Deno.test("extractZip refuses names that escape the folder", async () => {
  const cases: [string, RegExp][] = [
    ["../evil.py", /entry '\.\.\/evil\.py' escapes the project folder/],
    ["a/../../x.py", /entry 'a\/\.\.\/\.\.\/x\.py' escapes/],
    ["a/../b.py", /escapes/],
    ["..\\evil.py", /entry '\.\.\\evil\.py' escapes/],
    ["/etc/passwd", /entry '\/etc\/passwd' has an absolute path/],
    ["\\windows\\x", /absolute path/],
    ["C:\\x.py", /entry 'C:\\x\.py' has an absolute path/],
    ["c:x.py", /absolute path/],
    ["a\u0000b.py", /entry 'a\\u0000b\.py' has a NUL byte/],
    ["..", /escapes/],
  ];
  for (const [name, pattern] of cases) {
    const zip = rawZip([{ name: "ok.py", data: new Uint8Array([1]) }, {
      name,
      data: new Uint8Array([2]),
    }]);
    await assertRefused(zip, "UNSAFE_ZIP", pattern);
  }
});

Deno.test("extractZip refuses symbolic links", async () => {
  const zip = await zipOf([["main.py", "x"], ["link", "/etc/passwd", { unixMode: 0o120777 }]]);
  await assertRefused(zip, "UNSAFE_ZIP", /entry 'link' is a symbolic link/);
  const raw = rawZip([{ name: "link", data: new TextEncoder().encode("../x"), mode: 0o120644 }]);
  await assertRefused(raw, "UNSAFE_ZIP", /symbolic link/);
});

Deno.test("extractZip refuses encrypted entries", async () => {
  const zip = await zipOf([["main.py", "secret code"]], { password: "hunter2" });
  await assertRefused(zip, "UNSAFE_ZIP", /entry 'main.py' is encrypted/);
});

Deno.test("extractZip refuses duplicate names, also after normalisation", async () => {
  const one = new Uint8Array([1]);
  await assertRefused(
    rawZip([{ name: "main.py", data: one }, { name: "main.py", data: one }]),
    "UNSAFE_ZIP",
    /entry 'main.py' appears more than once/,
  );
  await assertRefused(
    rawZip([{ name: "src/a.py", data: one }, { name: "./src//a.py", data: one }]),
    "UNSAFE_ZIP",
    /entry 'src\/a.py' appears more than once/,
  );
});

Deno.test("extractZip refuses names that differ only in letter case", async () => {
  const one = new Uint8Array([1]);
  await assertRefused(
    rawZip([{ name: "Main.py", data: one }, { name: "main.py", data: one }]),
    "UNSAFE_ZIP",
    /entries 'Main.py' and 'main.py' differ only in letter case/,
  );
  await assertRefused(
    rawZip([{ name: "Src/a.py", data: one }, { name: "src/b.py", data: one }]),
    "UNSAFE_ZIP",
    /folders 'Src' and 'src' differ only in letter case/,
  );
});

Deno.test("extractZip refuses a name that is both a file and a folder", async () => {
  const one = new Uint8Array([1]);
  await assertRefused(
    rawZip([{ name: "lib", data: one }, { name: "lib/x.py", data: one }]),
    "UNSAFE_ZIP",
    /entry 'lib' is both a file and a folder/,
  );
  await assertRefused(
    rawZip([{ name: "lib/x.py", data: one }, { name: "LIB", data: one }]),
    "UNSAFE_ZIP",
    /entry 'LIB' is both a file and a folder/,
  );
});

Deno.test("extractZip refuses very long names", async () => {
  const one = new Uint8Array([1]);
  await assertRefused(
    rawZip([{ name: `${"a".repeat(256)}.py`, data: one }]),
    "UNSAFE_ZIP",
    /has a name part of 259 bytes, over 255/,
  );
  const deep = Array.from({ length: 5 }, () => "d".repeat(250)).join("/");
  await assertRefused(
    rawZip([{ name: deep, data: one }]),
    "UNSAFE_ZIP",
    /has a path of 1254 bytes, over 1024/,
  );
});

Deno.test("extractZip refuses entries that share their data", async () => {
  const data = new TextEncoder().encode("shared kernel");
  await assertRefused(
    rawZip([{ name: "a.txt", data }, { name: "b.txt", data, offset: 0 }]),
    "UNSAFE_ZIP",
    /entries '.\.txt' and '.\.txt' overlap/,
  );
});

Deno.test("extractZip refuses more entries than the limit", async () => {
  const entries = Array.from({ length: 100_000 }, (_, index) => ({ name: `f${index}` }));
  await assertRefused(
    rawZip(entries),
    "ZIP_TOO_LARGE",
    /more than 10000 entries/,
  );
});

Deno.test("extractZip refuses a bomb by its declared size", async () => {
  const zip = rawZip([{ name: "bomb.bin", deflated: await deflatedBomb(), size: BOMB_BYTES }]);
  await assertRefused(
    zip,
    "ZIP_TOO_LARGE",
    /the files hold 52428800 bytes, over the limit of 10485760/,
    { ...LIMITS, maxUncompressedBytes: 10 * 1024 * 1024, maxRatio: Infinity },
  );
});

Deno.test("extractZip stops a bomb whose header lies about its size", async () => {
  const zip = rawZip([{ name: "bomb.bin", deflated: await deflatedBomb(), size: 1000 }]);
  await assertRefused(
    zip,
    "BAD_ZIP",
    /entry 'bomb.bin' does not hold the 1000 bytes it declares/,
    { ...LIMITS, maxRatio: Infinity },
  );
});

Deno.test("extractZip refuses a compression ratio over the limit above 1 MiB only", async () => {
  const big = await zipOf([["zeros.bin", new Uint8Array(2 * 1024 * 1024)]]);
  await assertRefused(
    big,
    "ZIP_TOO_LARGE",
    /expand to 2097152 \(ratio \d+\), over the limit of 100/,
  );
  const small = await zipOf([["zeros.txt", "0".repeat(512 * 1024)]]);
  await withTempDir(async (dest) => {
    const result = await extractZip(small, dest, LIMITS);
    assert.equal(result.bytes, 512 * 1024);
  });
});

Deno.test("extractZip reports storage failures", async () => {
  const zip = await zipOf([["main.py", "x"]]);
  await withTempDir(async (dir) => {
    await assert.rejects(extractZip(zip, `${dir}/missing`, LIMITS), (error) => {
      assert.ok(error instanceof AgentError);
      assert.equal(error.code, "STORAGE_ERROR");
      assert.match(error.message, /^Cannot extract project: cannot create file 'main.py': .+/);
      return true;
    });
  });
});

Deno.test("extractZip stops when its signal is aborted", async () => {
  const zip = await zipOf([["main.py", "x"]]);
  const reason = new Error("deploy cancelled");
  await withTempDir(async (dest) => {
    await assert.rejects(
      extractZip(zip, dest, { ...LIMITS, signal: AbortSignal.abort(reason) }),
      (error) => error === reason,
    );
    assert.deepEqual(await listTree(dest), []);
  });
});

Deno.test("extractZip stops when its signal is aborted while it runs", async () => {
  const zip = await zipOf([["main.py", "x"], ["lib/a.py", "y"]]);
  const reason = new Error("deploy cancelled");
  const controller = new AbortController();
  await withTempDir(async (dest) => {
    const extraction = extractZip(zip, dest, { ...LIMITS, signal: controller.signal });
    controller.abort(reason);
    await assert.rejects(extraction, (error) => error === reason);
    assert.deepEqual(await listTree(dest), []);
  });
});

Deno.test("extractZip decodes unflagged names as CP437 unless a Unicode path field says", async () => {
  const cp437 = new Uint8Array([0x82, 0x74, 0x82, 0x2e, 0x70, 0x79]); // "été.py" in CP437
  const utf8 = new TextEncoder().encode("ロボット.py");
  const raw = new TextEncoder().encode("robot.py");
  // Info-ZIP's Unicode path field: version 1, CRC-32 of the stored name, the UTF-8 name.
  const field = new Uint8Array(4 + 5 + utf8.length);
  const view = new DataView(field.buffer);
  view.setUint16(0, 0x7075, true);
  view.setUint16(2, 5 + utf8.length, true);
  field[4] = 1;
  view.setUint32(5, crc32(raw), true);
  field.set(utf8, 9);
  const zip = rawZip([
    { name: cp437, data: new TextEncoder().encode("A"), flags: 0 },
    { name: raw, data: new TextEncoder().encode("B"), flags: 0, extra: field },
  ]);
  await withTempDir(async (dest) => {
    await extractZip(zip, dest, LIMITS);
    assert.deepEqual(await listTree(dest), ["été.py", "ロボット.py"]);
  });
});

Deno.test("extractZip reads unflagged UTF-8 names made on Unix as UTF-8, not CP437", async () => {
  // Debian's `zip -r` stores the bytes of the file name, unflagged, with no Unicode field.
  const name = new TextEncoder().encode("ロボ/été.py");
  const data = new TextEncoder().encode("x = 1\n");
  await withTempDir(async (dest) => {
    await extractZip(rawZip([{ name, data, flags: 0 }]), dest, LIMITS);
    assert.deepEqual(await listTree(dest), ["ロボ/", "ロボ/été.py"]);
  });
  await withTempDir(async (dest) => {
    await extractZip(rawZip([{ name, data, flags: 0, host: 0 }]), dest, LIMITS);
    assert.deepEqual(await listTree(dest), ["πâ¡πâ£/", "πâ¡πâ£/├⌐t├⌐.py"]);
  });
});

Deno.test("extractZip writes stored and deflated files of every size around its block and slice edges", async () => {
  const sizes = [0, 1, 65534, 65535, 65536, 65537, 262143, 262144, 262145, 300000];
  const files: [string, Uint8Array, ZipWriterAddDataOptions][] = [];
  for (const size of sizes) {
    const data = new Uint8Array(size).map((_, i) => (i * 7 + size) % 251);
    files.push([`stored/${size}.bin`, data, { level: 0 }], [`deflated/${size}.bin`, data, {}]);
  }
  const zip = await zipOf(files);
  await withTempDir(async (dir) => {
    // From memory and from a file: the two read paths slice differently.
    await Deno.writeFile(`${dir}/upload.zip`, zip);
    for (const source of [zip, `${dir}/upload.zip`]) {
      const dest = await Deno.makeTempDir({ dir });
      await extractZip(source, dest, LIMITS);
      for (const [name, data] of files) {
        assert.deepEqual(await Deno.readFile(`${dest}/${name}`), data, name);
      }
    }
  });
});

Deno.test("extractZip takes a deflated entry with no data as an empty file", async () => {
  const zip = rawZip([
    { name: "empty.py", deflated: new Uint8Array(), size: 0 },
    { name: "main.py", data: new TextEncoder().encode("x = 1\n") },
  ]);
  await withTempDir(async (dest) => {
    const result = await extractZip(zip, dest, LIMITS);
    assert.deepEqual(result, { entries: 2, files: 2, bytes: 6 });
    assert.equal(await Deno.readTextFile(`${dest}/empty.py`), "");
  });
  const lying = rawZip([{ name: "main.py", deflated: new Uint8Array(), size: 5 }]);
  await assertRefused(lying, "BAD_ZIP", /does not hold the 5 bytes it declares/);
});

Deno.test("decodeCp437 maps all 256 bytes to one character each", () => {
  const all = new Uint8Array(256).map((_, index) => index);
  const text = decodeCp437(all);
  assert.equal([...text].length, 256);
  assert.equal(text.slice(0x80, 0x84), "Çüéâ");
  assert.equal(text.at(-1), "\u00a0");
});
