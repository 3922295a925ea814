import assert from "node:assert/strict";
import { join } from "node:path";
import { AgentError } from "../errors.ts";
import { pythonSha256, UploadManager, type UploadManagerOptions } from "./_uploads.ts";

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

const DAY_MS = 86_400_000;

function options(overrides: Partial<UploadManagerOptions> = {}): UploadManagerOptions {
  return { maxBytes: 4096, maxInProgress: 4, staleMs: DAY_MS, digest: fileSha256, ...overrides };
}

async function withUploads(
  test: (manager: UploadManager, dir: string, sha256: string) => Promise<void>,
  overrides: Partial<UploadManagerOptions> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "uploads-" });
  const manager = new UploadManager(dir, options(overrides));
  try {
    await test(manager, dir, await sha256Hex(DATA));
  } finally {
    await manager.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A distinct valid upload id. */
function id(n: number): string {
  return n.toString(16).padStart(64, "0");
}

/** The names in a folder, sorted. */
function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((entry) => entry.name).sort();
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
    await manager.close();
    const restarted = new UploadManager(dir, options());
    try {
      assert.equal((await restarted.begin(1000, sha256)).received, 300, "from the file");
      assert.equal((await restarted.write(sha256, 300, DATA.subarray(300))).received, 1000);
    } finally {
      await restarted.close();
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

Deno.test("UploadManager.begin refuses an upload past maxInProgress with UPLOAD_LIMIT, naming those in progress", async () => {
  await withUploads(async (manager, dir) => {
    await manager.begin(100, id(1));
    await manager.write(id(1), 0, DATA.subarray(0, 10));
    await manager.begin(200, id(2));
    await assert.rejects(manager.begin(300, id(3)), (error: unknown) => {
      assert.ok(error instanceof AgentError, String(error));
      assert.equal(error.code, "UPLOAD_LIMIT");
      assert.equal(
        error.message,
        "Cannot begin upload: 2 uploads are in progress, as many as upload.max_in_progress (2) " +
          'allows; finish one, or abort one with {"command": "upload_abort", "params": ' +
          '{"upload_id": SHA256}}',
      );
      assert.deepEqual(error.data, {
        max_in_progress: 2,
        in_progress: [
          { upload_id: id(1), size: 100, received: 10 },
          { upload_id: id(2), size: 200, received: 0 },
        ],
      });
      return true;
    });
    assert.deepEqual(names(dir), [`${id(1)}.part`, `${id(2)}.part`], "no file for the refused one");
    assert.equal((await manager.begin(100, id(1))).received, 10, "a resume is no new upload");
    await manager.abort(id(2));
    assert.equal((await manager.begin(300, id(3))).received, 0);
    // A complete upload being deployed is no longer in progress.
    await manager.write(id(1), 10, DATA.subarray(0, 90));
    await (await manager.finish(id(1))).verified.catch(() => {});
    assert.equal((await manager.begin(400, id(4))).received, 0);
    await manager.discard(id(1));
  }, { maxInProgress: 2 });
});

Deno.test("UploadManager.abort forgets an upload and removes its file; nothing to abort is no error", async () => {
  await withUploads(async (manager, dir, sha256) => {
    await manager.begin(1000, sha256);
    await manager.write(sha256, 0, DATA.subarray(0, 10));
    assert.deepEqual(await manager.abort(sha256), { upload_id: sha256, removed: true });
    assert.deepEqual(names(dir), []);
    await assert.rejects(manager.write(sha256, 10, DATA), assertUploadError(/no upload .* open/));
    assert.deepEqual(await manager.abort(sha256), { upload_id: sha256, removed: false });
    // A partial file left by an earlier run, not begun in this one.
    await Deno.writeFile(join(dir, `${id(9)}.part`), DATA);
    assert.deepEqual(await manager.abort(id(9)), { upload_id: id(9), removed: true });
    assert.deepEqual(names(dir), []);
    await assert.rejects(manager.abort("../state.json"), assertUploadError(/upload_id must be 64/));
  });
});

Deno.test("UploadManager.abort and begin refuse an upload that is complete and being deployed", async () => {
  await withUploads(async (manager, dir, sha256) => {
    await manager.begin(1000, sha256);
    await manager.write(sha256, 0, DATA);
    const finished = await manager.finish(sha256);
    await assert.rejects(manager.abort(sha256), assertUploadError(/complete and being deployed/));
    await assert.rejects(manager.begin(1000, sha256), assertUploadError(/being deployed/));
    assert.deepEqual(names(dir), [`${sha256}.part`]);
    await finished.verified;
    await manager.discard(sha256);
  });
});

Deno.test("UploadManager.open removes partial files untouched for staleMs and keeps the rest", async () => {
  const now = Date.UTC(2030, 0, 1);
  await withUploads(async (manager, dir) => {
    const age = async (name: string, ms: number) => {
      await Deno.writeFile(join(dir, name), DATA);
      await Deno.utime(join(dir, name), new Date(now - ms), new Date(now - ms));
    };
    await age(`${id(1)}.part`, 1001);
    await age(`${id(2)}.part`, 999);
    await age("notes.txt", 5000);
    await manager.open();
    assert.deepEqual(names(dir), [`${id(2)}.part`, "notes.txt"]);
  }, { staleMs: 1000, now: () => now });
});

Deno.test("UploadManager forgets an upload untouched for staleMs; each chunk touches it", async () => {
  let now = Date.UTC(2030, 0, 1);
  await withUploads(async (manager, dir) => {
    await manager.begin(1000, id(1));
    now += 600;
    await manager.write(id(1), 0, DATA.subarray(0, 10));
    now += 600;
    // A new upload's begin looks for stale ones first: 1200 ms since begin, 600 since the chunk.
    await manager.begin(1000, id(2));
    assert.equal((await manager.write(id(1), 10, DATA.subarray(10, 20))).received, 20);
    now += 1001;
    await manager.begin(1000, id(3));
    assert.deepEqual(names(dir), [`${id(3)}.part`]);
    await assert.rejects(manager.write(id(1), 20, DATA), assertUploadError(/no upload .* open/));
  }, { staleMs: 1000, now: () => now });
});

Deno.test("UploadManager removes stale uploads periodically once open, until close", async () => {
  await withUploads(async (manager, dir, sha256) => {
    await manager.open();
    await manager.begin(1000, sha256);
    await manager.write(sha256, 0, DATA.subarray(0, 10));
    for (let tries = 0; names(dir).length > 0 && tries < 500; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(names(dir), [], "the timer removed the stale upload");
    await assert.rejects(manager.write(sha256, 10, DATA), assertUploadError(/no upload .* open/));
  }, { staleMs: 50 });
});

/** The file descriptors of process `pid` open on files in `dir`, from `ls -l /proc/PID/fd`. */
async function fdsIn(pid: number, dir: string): Promise<number> {
  const output = await new Deno.Command("ls", { args: ["-l", `/proc/${pid}/fd`] }).output();
  // A descriptor closed between ls listing the folder and reading its link is "cannot
  // access": that one is gone, which is fine; any other failure is not.
  const errors = new TextDecoder().decode(output.stderr).split("\n").filter((line) =>
    line !== "" && !/cannot access '\/proc\/\d+\/fd\/\d+': No such file/.test(line)
  );
  assert.deepEqual(errors, []);
  return new TextDecoder().decode(output.stdout).split("\n")
    .filter((line) => line.includes(`-> ${dir}/`)).length;
}

Deno.test("UploadManager holds no file descriptor for an upload between its chunks", async () => {
  await withUploads(async (manager, dir) => {
    for (let n = 1; n <= 50; n++) {
      await manager.begin(1000, id(n));
      await manager.write(id(n), 0, DATA.subarray(0, 100));
    }
    assert.equal(names(dir).length, 50);
    assert.equal(await fdsIn(Deno.pid, dir), 0);
    for (let n = 1; n <= 50; n++) {
      assert.equal((await manager.write(id(n), 100, DATA.subarray(100))).received, 1000);
    }
    assert.equal(await fdsIn(Deno.pid, dir), 0);
  }, { maxInProgress: 100 });
});
