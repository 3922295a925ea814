import assert from "node:assert/strict";
import { join } from "node:path";
import { checkStorageAccess } from "./_storage_access.ts";

Deno.test("checkStorageAccess creates storage with its logs and run folders and leaves no probe", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const storage = join(dir, "new", "storage");
    await checkStorageAccess(storage);
    const names = [];
    for await (const entry of Deno.readDir(storage)) names.push(entry.name);
    assert.deepEqual(names.sort(), ["logs", "run"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkStorageAccess refuses a storage path that is a file, in one line with exit code 1", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const storage = join(dir, "storage");
    await Deno.writeTextFile(storage, "");
    await assert.rejects(
      checkStorageAccess(storage),
      (error: Error & { exitCode?: number }) =>
        error.exitCode === 1 && error.message.startsWith(`Cannot use storage ${storage}: `) &&
        !error.message.includes("\n"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
