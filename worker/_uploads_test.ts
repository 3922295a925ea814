import assert from "node:assert/strict";
import { join } from "node:path";
import { AgentError } from "../errors.ts";
import { pythonSha256, UploadManager } from "./_uploads.ts";

const PYTHON = "python3";

Deno.test("pythonSha256 hashes a file as WebCrypto does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const data = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 31) & 0xff);
    await Deno.writeFile(`${dir}/upload.part`, data);
    const expected = [...new Uint8Array(await crypto.subtle.digest("SHA-256", data))]
      .map((byte) => byte.toString(16).padStart(2, "0")).join("");
    assert.equal(await pythonSha256(PYTHON)(`${dir}/upload.part`), expected);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pythonSha256 says why when it cannot hash", async () => {
  await assert.rejects(
    pythonSha256(PYTHON)("/nonexistent/upload.part"),
    /python3 exited with code 1: FileNotFoundError: .*No such file/,
  );
});

async function sha256Hex(data: Uint8Array<ArrayBuffer>): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest("SHA-256", data))]
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The sha256 of a file, computed here: these tests are about the manager, not python. */
async function fileSha256(path: string): Promise<string> {
  return await sha256Hex(await Deno.readFile(path));
}

const DATA = new Uint8Array(1000).map((_, i) => i & 0xff);

async function withUploads(
  test: (manager: UploadManager, dir: string, sha256: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "uploads-" });
  const manager = new UploadManager(dir, { maxBytes: 4096, digest: fileSha256 });
  try {
    await test(manager, dir, await sha256Hex(DATA));
  } finally {
    manager.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function assertUploadError(pattern: RegExp, data?: Record<string, unknown>) {
  return (error: unknown) => {
    assert.ok(error instanceof AgentError, String(error));
    assert.equal(error.code, "UPLOAD_ERROR");
    assert.match(error.message, pattern);
    if (data) assert.deepEqual(error.data, data);
    return true;
  };
}

Deno.test("UploadManager.begin opens an upload and write appends chunks in order", async () => {
  await withUploads(async (manager, dir, sha256) => {
    assert.deepEqual(await manager.begin(1000, sha256), {
      upload_id: sha256,
      size: 1000,
      received: 0,
    });
    assert.equal((await manager.write(sha256, 0, DATA.subarray(0, 400))).received, 400);
    assert.equal((await manager.write(sha256, 400, DATA.subarray(400))).received, 1000);
    assert.deepEqual(await Deno.readFile(join(dir, `${sha256}.part`)), DATA);
  });
});

Deno.test("UploadManager.begin resumes an upload where its file stands, also after a restart", async () => {
  await withUploads(async (manager, dir, sha256) => {
    await manager.begin(1000, sha256);
    await manager.write(sha256, 0, DATA.subarray(0, 300));
    assert.equal((await manager.begin(1000, sha256)).received, 300, "the open upload");
    manager.close();
    const restarted = new UploadManager(dir, { maxBytes: 4096, digest: fileSha256 });
    try {
      assert.equal((await restarted.begin(1000, sha256)).received, 300, "from the file");
      assert.equal((await restarted.write(sha256, 300, DATA.subarray(300))).received, 1000);
    } finally {
      restarted.close();
    }
    assert.deepEqual(await Deno.readFile(join(dir, `${sha256}.part`)), DATA);
  });
});

Deno.test("UploadManager.begin refuses a bad declaration", async () => {
  await withUploads(async (manager, _dir, sha256) => {
    await assert.rejects(manager.begin(10, "ABC"), assertUploadError(/sha256 must be 64/));
    await assert.rejects(manager.begin(0, sha256), assertUploadError(/size must be a positive/));
    await assert.rejects(manager.begin(5000, sha256), { code: "ZIP_TOO_LARGE" });
    await manager.begin(1000, sha256);
    await assert.rejects(manager.begin(999, sha256), assertUploadError(/size differs/));
  });
});

Deno.test("UploadManager.write refuses a chunk at the wrong offset, naming where it stands", async () => {
  await withUploads(async (manager, _dir, sha256) => {
    await manager.begin(1000, sha256);
    await manager.write(sha256, 0, DATA.subarray(0, 100));
    await assert.rejects(
      manager.write(sha256, 50, DATA.subarray(50, 100)),
      assertUploadError(/^Cannot store chunk: offset 50 is not where the upload stands \(100\)$/, {
        upload_id: sha256,
        size: 1000,
        received: 100,
      }),
    );
    await assert.rejects(
      manager.write(sha256, 100, new Uint8Array(901)),
      assertUploadError(/1001 bytes exceed the declared size 1000/),
    );
    await assert.rejects(
      manager.write("f".repeat(64), 0, DATA),
      assertUploadError(/no upload .* is open; send upload_begin/),
    );
    assert.equal((await manager.write(sha256, 100, DATA.subarray(100))).received, 1000);
  });
});

Deno.test("UploadManager.finish verifies the digest of a complete upload", async () => {
  await withUploads(async (manager, dir, sha256) => {
    await manager.begin(1000, sha256);
    await manager.write(sha256, 0, DATA);
    const finished = await manager.finish(sha256);
    assert.equal(finished.path, join(dir, `${sha256}.part`));
    await finished.verified;
    await manager.discard(sha256);
    await assert.rejects(Deno.stat(finished.path), Deno.errors.NotFound);
  });
});

Deno.test("UploadManager.finish rejects verified when the data is not what was declared", async () => {
  await withUploads(async (manager, dir, sha256) => {
    const declared = "0".repeat(64);
    await manager.begin(1000, declared);
    await manager.write(declared, 0, DATA);
    const finished = await manager.finish(declared);
    await assert.rejects(
      finished.verified,
      assertUploadError(new RegExp(`sha256 of the data is ${sha256}, not ${declared}`)),
    );
    await manager.discard(declared);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    await assert.rejects(manager.finish(declared), assertUploadError(/no upload .* is open/));
  });
});

Deno.test("UploadManager.discard closes and removes an upload in progress", async () => {
  await withUploads(async (manager, dir, sha256) => {
    await manager.begin(1000, sha256);
    await manager.write(sha256, 0, DATA.subarray(0, 10));
    await manager.discard(sha256);
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    assert.equal((await manager.begin(1000, sha256)).received, 0, "a fresh start");
  });
});
