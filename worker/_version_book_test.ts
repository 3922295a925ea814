import assert from "node:assert/strict";
import { VersionBook } from "./_version_book.ts";

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "version-book-" });
  try {
    await run(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("VersionBook keeps each version's status, reason and sha256 across instances", async () => {
  await withDir(async (dir) => {
    const now = () => new Date("2026-12-01T10:00:00Z");
    const book = new VersionBook(`${dir}/versions.json`, { now });
    await book.open();
    await book.deployed(1, "ab".repeat(32));
    await book.deployed(2, null);
    await book.mark(1, "good");
    await book.mark(2, "failed", "failed to start: SyntaxError");
    const again = new VersionBook(`${dir}/versions.json`);
    await again.open();
    assert.deepEqual(again.entry(1), {
      status: "good",
      reason: null,
      sha256: "ab".repeat(32),
      statusAt: "2026-12-01T10:00:00.000Z",
    });
    assert.equal(again.entry(2).status, "failed");
    assert.equal(again.entry(2).reason, "failed to start: SyntaxError");
    assert.equal(again.entry(0).status, "good", "the built-in project");
    assert.equal(again.entry(9).status, "candidate", "a version it never saw");
    await again.keepOnly([2]);
    const pruned = new VersionBook(`${dir}/versions.json`);
    await pruned.open();
    assert.deepEqual(pruned.versions(), [2]);
  });
});

Deno.test("VersionBook opens an unreadable file as an empty book", async () => {
  await withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/versions.json`, "{not json");
    const book = new VersionBook(`${dir}/versions.json`);
    await book.open();
    assert.deepEqual(book.versions(), []);
    await book.deployed(3, null);
    assert.equal(
      JSON.parse(await Deno.readTextFile(`${dir}/versions.json`))["3"].status,
      "candidate",
    );
  });
});
