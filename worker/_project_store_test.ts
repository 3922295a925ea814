import assert from "node:assert/strict";
import { join } from "node:path";
import { AgentError } from "../errors.ts";
import { rawZip } from "../tests/_zip_craft.ts";
import { ProjectStore } from "./_project_store.ts";

const encoder = new TextEncoder();

function pythonZip(source = "x = 1\n"): Uint8Array {
  return rawZip([{ name: "main.py", data: encoder.encode(source) }]);
}

interface Storage {
  dir: string;
  defaultProject: string;
  open(keepVersions?: number): Promise<ProjectStore>;
}

async function withStorage(test: (storage: Storage) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "project-store-" });
  const defaultProject = join(dir, "default");
  const open = async (keepVersions = 3) => {
    const store = new ProjectStore(dir, {
      keepVersions,
      defaultProject,
      limits: { maxEntries: 100, maxUncompressedBytes: 1 << 20, maxRatio: 100 },
    });
    await store.open();
    return store;
  };
  try {
    await test({ dir, defaultProject, open });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function entries(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("ProjectStore starts with the built-in default project as version 0", async () => {
  await withStorage(async ({ defaultProject, open }) => {
    const store = await open();
    assert.deepEqual(store.current, {
      version: 0,
      type: "python",
      root: defaultProject,
      entry: "main.py",
      args: [],
      name: "default",
      permissions: {},
      files: 0,
      bytes: 0,
      deployedAt: "",
    });
    assert.deepEqual(await store.versions(), []);
  });
});

Deno.test("ProjectStore.add makes a version without making it current; activate does, for good", async () => {
  await withStorage(async ({ dir, open }) => {
    const store = await open();
    const meta = await store.add(pythonZip("print('v1')\n"));
    assert.equal(meta.version, 1);
    assert.equal(meta.type, "python");
    assert.equal(meta.entry, "main.py");
    assert.equal(meta.files, 1);
    assert.equal(await Deno.readTextFile(join(meta.root, "main.py")), "print('v1')\n");
    assert.equal(store.current.version, 0, "not current before activate");

    assert.equal((await store.activate(1)).version, 1);
    assert.equal(store.current.version, 1);
    assert.equal((await Deno.readTextFile(join(dir, "projects", "current"))).trim(), "v000001");
    // A new worker reads the same current version.
    const reopened = await open();
    assert.equal(reopened.current.version, 1);
    assert.equal(reopened.current.root, meta.root);
  });
});

Deno.test("ProjectStore.versions lists the deployed versions oldest first", async () => {
  await withStorage(async ({ open }) => {
    const store = await open();
    for (let i = 0; i < 3; i++) await store.add(pythonZip());
    assert.deepEqual(await store.versions(), [1, 2, 3]);
  });
});

Deno.test("ProjectStore.activate prunes old versions beyond keepVersions", async () => {
  await withStorage(async ({ open }) => {
    const store = await open(2);
    for (let i = 0; i < 4; i++) await store.add(pythonZip());
    await store.activate(4);
    assert.deepEqual(await store.versions(), [3, 4]);
  });
});

Deno.test("ProjectStore.activate keeps the current version however old it is", async () => {
  await withStorage(async ({ open }) => {
    const store = await open(2);
    for (let i = 0; i < 3; i++) await store.add(pythonZip());
    await store.activate(1);
    assert.deepEqual(await store.versions(), [1, 2, 3]);
    assert.equal(store.current.version, 1);
  });
});

Deno.test("ProjectStore.activate(0) returns to the default project", async () => {
  await withStorage(async ({ defaultProject, open }) => {
    const store = await open();
    await store.add(pythonZip());
    await store.activate(1);
    const meta = await store.activate(0);
    assert.equal(meta.version, 0);
    assert.equal(meta.root, defaultProject);
    assert.equal((await open()).current.version, 0);
  });
});

Deno.test("ProjectStore.add refuses a bad zip and leaves nothing on disk", async () => {
  await withStorage(async ({ dir, open }) => {
    const store = await open();
    await assert.rejects(store.add(encoder.encode("not a zip at all")), (error) => {
      assert.ok(error instanceof AgentError, String(error));
      assert.equal(error.code, "BAD_ZIP");
      return true;
    });
    const noProject = rawZip([{ name: "README.txt", data: encoder.encode("hi") }]);
    await assert.rejects(store.add(noProject), { code: "NO_PROJECT" });
    assert.deepEqual(await entries(join(dir, "staging")), []);
    assert.deepEqual(await store.versions(), []);
    assert.equal((await store.add(pythonZip())).version, 1, "no version number was used up");
  });
});

Deno.test("ProjectStore.add refuses a zip whose verification fails, and says that first", async () => {
  await withStorage(async ({ dir, open }) => {
    const store = await open();
    const verified = Promise.reject(new AgentError("UPLOAD_ERROR", "sha256 does not match"));
    // As UploadManager.finish does: awaited later, never unhandled meanwhile.
    verified.catch(() => {});
    await assert.rejects(store.add(pythonZip(), { verified }), {
      code: "UPLOAD_ERROR",
      message: "sha256 does not match",
    });
    assert.deepEqual(await entries(join(dir, "staging")), []);
    assert.deepEqual(await store.versions(), []);
  });
});

Deno.test("ProjectStore.open removes what a crash left in staging", async () => {
  await withStorage(async ({ dir, open }) => {
    await open();
    await Deno.mkdir(join(dir, "staging", "deploy-crashed"), { recursive: true });
    await Deno.writeTextFile(join(dir, "projects", "current.tmp"), "v000009");
    const store = await open();
    assert.deepEqual(await entries(join(dir, "staging")), []);
    assert.deepEqual(await entries(join(dir, "projects")), []);
    assert.equal(store.current.version, 0);
  });
});
