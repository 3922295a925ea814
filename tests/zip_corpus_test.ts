/**
 * End-to-end: a corpus of hostile zips sent to the real agent, as base64 `update` and as
 * binary messages. Each is refused with a sensible code, and none disturbs the running
 * project or writes a byte outside the storage folder.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Uint8ArrayReader, Uint8ArrayWriter, ZipWriter } from "@zip.js/zip.js";
import { type Client, makeZip, type Message, startAgent } from "./_agent.ts";
import { concat, type RawEntry, rawZip } from "./_zip_craft.ts";

const MIB = 1024 * 1024;
const MAX_UNCOMPRESSED = 50 * MIB;
const CONFIG = `zip:\n  max_uncompressed_bytes: ${MAX_UNCOMPRESSED}\n`;
const PROJECT = "class Calc:\n    def add(self, a, b):\n        return a + b\n\n\ncalc = Calc()\n";
const encoder = new TextEncoder();

/** `size` zero bytes as raw deflate, made by streaming so the zeros are never all in memory. */
async function deflatedZeros(size: number): Promise<Uint8Array> {
  const block = new Uint8Array(MIB);
  let left = size;
  const zeros = new ReadableStream<BufferSource>({
    pull(controller) {
      if (left === 0) return controller.close();
      const length = Math.min(left, block.length);
      controller.enqueue(block.subarray(0, length));
      left -= length;
    },
  });
  const stream = zeros.pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A zip made by zip.js with writer-level options (encryption, zip64, Unix modes). */
async function zipWith(
  files: [name: string, content: string, mode?: number][],
  options: { password?: string; zipCrypto?: boolean; zip64?: boolean } = {},
): Promise<Uint8Array> {
  const writer = new ZipWriter(new Uint8ArrayWriter(), { useWebWorkers: false, ...options });
  for (const [name, content, mode] of files) {
    await writer.add(name, new Uint8ArrayReader(encoder.encode(content)), {
      ...(mode === undefined ? {} : { unixMode: mode }),
    });
  }
  return await writer.close();
}

/** The same zip with its central directory cut short, the end record kept. */
function truncateCentralDirectory(zip: Uint8Array): Uint8Array {
  const end = zip.length - 22;
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  assert.equal(view.getUint32(end, true), 0x06054b50, "no plain end record");
  const start = view.getUint32(end + 16, true);
  const size = view.getUint32(end + 12, true);
  return concat([zip.subarray(0, start + Math.floor(size / 2)), zip.subarray(end)]);
}

/** Sends a zip and returns the reply: as `update` with base64 data, or as a binary message. */
async function deploy(client: Client, zip: Uint8Array, binary: boolean): Promise<Message> {
  if (!binary) return await client.request({ command: "update", id: "zip", data: zip.toBase64() });
  const reply = client.next((m) => m.status !== "callback", 30_000);
  client.send(zip);
  return await reply;
}

/** Every name under `dir`, recursively, relative to it. */
async function listTree(dir: string, prefix = ""): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = prefix + entry.name;
    names.push(path);
    if (entry.isDirectory) names.push(...await listTree(join(dir, entry.name), `${path}/`));
  }
  return names;
}

/** Zips whose names are flagged UTF-8 (bit 11) but are not: each is a corrupt zip. */
function invalidUtf8Zips(marker: string): [string, Uint8Array][] {
  const main = { name: "main.py", data: encoder.encode(PROJECT) };
  const one = encoder.encode("1");
  return [
    [
      "a name of invalid UTF-8",
      rawZip([main, {
        name: new Uint8Array([0x6e, 0xff, 0xfe, 0xc3, 0x28, 0x2e, 0x70, 0x79]),
        data: one,
      }]),
    ],
    [
      "an overlong UTF-8 '/' after '..'",
      rawZip([main, {
        name: concat([encoder.encode(".."), new Uint8Array([0xc0, 0xaf]), encoder.encode(marker)]),
        data: one,
      }]),
    ],
  ];
}

/** The hostile corpus: name, zip and the codes that are a sensible refusal. */
async function hostileZips(marker: string): Promise<[string, Uint8Array, string[]][]> {
  const main = { name: "main.py", data: encoder.encode(PROJECT) };
  const one = encoder.encode("1");
  const withMain = (...entries: RawEntry[]) => rawZip([main, ...entries]);
  const bomb = await deflatedZeros(300 * MIB);
  const dense = await deflatedZeros(45 * MIB);
  const good = await makeZip({ "main.py": PROJECT, "lib/a.py": "A = 1\n", "lib/b.py": "B = 2\n" });
  const corpus: [string, Uint8Array, string[]][] = [
    // Bombs: over the size limit as declared, lying about the size, over the ratio.
    [
      "a bomb of 300 MB of zeros",
      withMain({ name: "zeros.bin", deflated: bomb, size: 300 * MIB }),
      [
        "ZIP_TOO_LARGE",
      ],
    ],
    ["a bomb declaring 1000 bytes", withMain({ name: "zeros.bin", deflated: bomb, size: 1000 }), [
      "ZIP_TOO_LARGE",
      "BAD_ZIP",
    ]],
    [
      "a 45 MB file at ratio 1000",
      withMain({ name: "zeros.bin", deflated: dense, size: 45 * MIB }),
      [
        "ZIP_TOO_LARGE",
      ],
    ],
    [
      "entries sharing their data",
      withMain(
        { name: "a.bin", deflated: bomb, size: 300 * MIB },
        // b.bin's directory entry points at a.bin's local header, right after main.py.
        { name: "b.bin", deflated: bomb, size: 300 * MIB, offset: 30 + 7 + main.data.length },
      ),
      ["UNSAFE_ZIP", "ZIP_TOO_LARGE"],
    ],
    ["a second entry overlapping main.py", withMain({ name: "b.py", data: one, offset: 0 }), [
      "UNSAFE_ZIP",
    ]],
    [
      "100,000 tiny entries",
      rawZip([
        main,
        ...Array.from({ length: 100_000 }, (_, i) => ({
          name: `f/${i}`,
          data: one,
        })),
      ]),
      ["ZIP_TOO_LARGE"],
    ],
    // Names.
    ["a duplicate name", withMain({ name: "main.py", data: one }), ["UNSAFE_ZIP"]],
    ["a duplicate after normalisation", withMain({ name: "./main.py", data: one }), [
      "UNSAFE_ZIP",
    ]],
    ["names differing only in case", withMain({ name: "MAIN.py", data: one }), ["UNSAFE_ZIP"]],
    [
      "folders differing only in case",
      withMain(
        { name: "Lib/a.py", data: one },
        { name: "lib/b.py", data: one },
      ),
      ["UNSAFE_ZIP"],
    ],
    ["a name part over 255 bytes", withMain({ name: `${"n".repeat(300)}.py`, data: one }), [
      "UNSAFE_ZIP",
    ]],
    ["a path over 1024 bytes", withMain({ name: `${"d/".repeat(600)}x.py`, data: one }), [
      "UNSAFE_ZIP",
    ]],
    [
      "a file and a folder of one name",
      withMain(
        { name: "lib", data: one },
        { name: "lib/x.py", data: one },
      ),
      ["UNSAFE_ZIP"],
    ],
    ["a NUL in a name", withMain({ name: `ok\u0000/../../${marker}`, data: one }), [
      "UNSAFE_ZIP",
    ]],
    ["an entry named '.'", withMain({ name: ".", data: one }), ["UNSAFE_ZIP"]],
    ["an entry named '..'", withMain({ name: "..", data: one }), ["UNSAFE_ZIP"]],
    ["a folder entry '../'", withMain({ name: "../" }), ["UNSAFE_ZIP"]],
    // Escapes, from the staging folder up to /tmp and sideways into the canary.
    ...[1, 2, 3, 4, 5, 6].map((up): [string, Uint8Array, string[]] => [
      `an entry ${up} levels up`,
      withMain({ name: `${"../".repeat(up)}${marker}`, data: one }),
      ["UNSAFE_ZIP"],
    ]),
    ["an entry into the canary", withMain({ name: `../../../../canary/${marker}`, data: one }), [
      "UNSAFE_ZIP",
    ]],
    ["an escape after a folder", withMain({ name: `lib/../../${marker}`, data: one }), [
      "UNSAFE_ZIP",
    ]],
    ["an escape with backslashes", withMain({ name: `..\\..\\..\\..\\${marker}`, data: one }), [
      "UNSAFE_ZIP",
    ]],
    ["an absolute /etc path", withMain({ name: `/etc/${marker}`, data: one }), ["UNSAFE_ZIP"]],
    ["an absolute /tmp path", withMain({ name: `/tmp/${marker}`, data: one }), ["UNSAFE_ZIP"]],
    ["a Windows drive path", withMain({ name: `C:\\${marker}`, data: one }), ["UNSAFE_ZIP"]],
    ["a UNC path", withMain({ name: `\\\\host\\share\\${marker}`, data: one }), ["UNSAFE_ZIP"]],
    // Links and encryption.
    [
      "a symlink to /etc/passwd",
      await zipWith([
        ["main.py", PROJECT],
        ["passwd", "/etc/passwd", 0o120777],
      ]),
      ["UNSAFE_ZIP"],
    ],
    [
      "a symlink out, then a file through it",
      withMain(
        { name: "out", data: encoder.encode(`../../../../${marker}`), mode: 0o120777 },
        { name: `out/${marker}`, data: one },
      ),
      ["UNSAFE_ZIP"],
    ],
    [
      "a symlinked main.py",
      rawZip([
        { name: "main.py", data: encoder.encode("/etc/passwd"), mode: 0o120777 },
      ]),
      ["UNSAFE_ZIP"],
    ],
    ["AES encryption", await zipWith([["main.py", PROJECT]], { password: "hunter2" }), [
      "UNSAFE_ZIP",
    ]],
    [
      "ZipCrypto encryption",
      await zipWith([["main.py", PROJECT]], {
        password: "hunter2",
        zipCrypto: true,
      }),
      ["UNSAFE_ZIP"],
    ],
    // Corrupt archives.
    ["a truncated central directory", truncateCentralDirectory(good), ["BAD_ZIP"]],
    ["a truncated end record", good.subarray(0, good.length - 10), ["BAD_ZIP"]],
    ["half a zip", good.subarray(0, Math.floor(good.length / 2)), ["BAD_ZIP"]],
    [
      "a zip with its local headers zeroed",
      (() => {
        const broken = good.slice();
        broken.fill(0, 0, 30);
        return broken;
      })(),
      ["BAD_ZIP"],
    ],
    // Nothing to run.
    ["an empty zip", rawZip([]), ["EMPTY_ZIP"]],
    ["only folders", rawZip([{ name: "a/" }, { name: "a/b/" }]), ["EMPTY_ZIP"]],
    ["no project", rawZip([{ name: "notes.txt", data: one }]), ["NO_PROJECT"]],
    [
      "a manifest naming a file outside",
      withMain({
        name: "robot-agent.json",
        data: encoder.encode(JSON.stringify({ type: "cpp", entry: "../../../../../bin/sh" })),
      }),
      ["NO_PROJECT"],
    ],
    [
      "a manifest naming an absolute entry",
      withMain({
        name: "robot-agent.json",
        data: encoder.encode(JSON.stringify({ type: "python", entry: "/etc/passwd" })),
      }),
      ["NO_PROJECT"],
    ],
  ];
  return corpus;
}

Deno.test("hostile zips are refused both ways and leave the running project untouched", async () => {
  const parent = await Deno.makeTempDir({ prefix: "robot-agent-zip-corpus-" });
  const storage = join(parent, "storage");
  const canary = join(parent, "canary");
  await Deno.mkdir(storage);
  await Deno.mkdir(canary);
  const marker = `zipcorpus-escape-${crypto.randomUUID().slice(0, 8)}`;
  try {
    const corpus = await hostileZips(marker);
    await using agent = await startAgent({ storage, config: CONFIG });
    await using client = await agent.connect();

    // A valid zip64 archive deploys both ways; the second version is the one that runs.
    const zip64 = await zipWith([["main.py", PROJECT], ["lib/util.py", "X = 1\n"]], {
      zip64: true,
    });
    const zip64End = new Uint8Array([0x50, 0x4b, 0x06, 0x06]);
    assert.ok(
      zip64.some((_, i) => zip64End.every((byte, j) => zip64[i + j] === byte)),
      "zip.js wrote no zip64 end record",
    );
    for (const binary of [false, true]) {
      const updated = await deploy(client, zip64, binary);
      assert.equal(updated.status, "success", updated.message);
      assert.equal(updated.data.type, "python");
    }
    const started = await client.request({ command: "start", id: "start" });
    assert.equal(started.status, "success", started.message);
    const version = started.data.version;
    assert.equal(version, 2);
    assert.equal(
      (await client.call("before", "calc", "add", { a: 2, b: 3 })).callback.data.result,
      5,
    );

    for (const [name, zip, codes] of corpus) {
      for (const binary of [false, true]) {
        const how = binary ? "binary" : "base64";
        const reply = await deploy(client, zip, binary);
        assert.equal(reply.status, "error", `${name} (${how}) was accepted`);
        assert.ok(
          codes.includes(reply.code),
          `${name} (${how}): ${reply.code} ${reply.message}; expected ${codes.join(" or ")}`,
        );
        assert.match(reply.message, /\S/);
      }
    }

    const after = await client.call("after", "calc", "add", { a: 20, b: 22 });
    assert.equal(after.callback.data.result, 42);
    const status = await client.request({ command: "status", id: "status" });
    assert.equal(status.data.project.version, version);
    assert.equal(status.data.project.state, "running");
    assert.equal(status.data.project.pid, started.data.pid, "the project was restarted");
    assert.deepEqual(await listTree(join(storage, "staging")), []);
    assert.deepEqual(await listTree(canary), [], "something was written into the canary");
    assert.deepEqual((await listTree(parent)).filter((name) => name.includes(marker)), []);
    const tmp = [...Deno.readDirSync("/tmp")].map((entry) => entry.name);
    assert.deepEqual(tmp.filter((name) => name.includes(marker)), [], "a file escaped to /tmp");
    assert.deepEqual([...Deno.readDirSync(parent)].map((e) => e.name).sort(), [
      "canary",
      "storage",
    ]);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test({
  name: "a zip whose UTF-8 flagged names are not UTF-8 is refused",
  fn: async () => {
    await using agent = await startAgent();
    await using client = await agent.connect();
    const good = await deploy(client, await makeZip({ "main.py": PROJECT }), false);
    assert.equal(good.status, "success", good.message);
    for (const [name, zip] of invalidUtf8Zips("utf8-marker")) {
      for (const binary of [false, true]) {
        const reply = await deploy(client, zip, binary);
        assert.equal(reply.status, "error", `${name} was accepted: ${reply.message}`);
        assert.ok(["UNSAFE_ZIP", "BAD_ZIP"].includes(reply.code), `${name}: ${reply.code}`);
      }
    }
    const status = await client.request({ command: "status", id: "status" });
    assert.equal(status.data.project.version, good.data.version);
  },
});
