import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { startBroker } from "../tests/_nats.ts";
import { ObjectFetcher } from "./_fetch.ts";
import { connectOnce, openStores } from "./_nats.ts";

function randomBytes(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += 65536) crypto.getRandomValues(out.subarray(i, i + 65536));
  return out;
}

const NAMES = {
  prefix: "robot-agent",
  statusBucket: "status",
  desiredBucket: "desired",
  objectStore: "projects",
};

async function setup(url: string) {
  const nc = await connectOnce({ servers: url });
  const stores = await openStores(nc, NAMES);
  const dir = await Deno.makeTempDir({ prefix: "robot-agent-fetch-" });
  const fetcher = new ObjectFetcher({ ...stores, store: stores.objects, bucket: "projects", dir });
  return {
    stores,
    fetcher,
    dir,
    async [Symbol.asyncDispose]() {
      await nc.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("ObjectFetcher resumes an interrupted fetch at the next chunk and verifies the whole", async () => {
  await using broker = await startBroker();
  await using fleet = await setup(broker.url);
  const { fetcher } = fleet;
  {
    const zip = randomBytes(1_000_000);
    const sha256 = createHash("sha256").update(zip).digest("hex");
    await fleet.stores.objects.putBlob({ name: sha256 }, zip);
    await assert.rejects(fetcher.fetch(sha256, { maxChunks: 3 }), /stopped at/);
    const resumed = await fetcher.fetch(sha256);
    assert.ok(resumed.resumedAt > 0, "the second fetch starts where the first stopped");
    assert.equal(resumed.fetched + resumed.resumedAt, zip.length);
    assert.deepEqual(await Deno.readFile(resumed.path), zip);
    const again = await fetcher.fetch(sha256);
    assert.equal(again.fetched, 0, "a verified zip on disk is not fetched again");
  }
});

Deno.test("ObjectFetcher refuses bytes that do not match the sha256 they were asked for", async () => {
  await using broker = await startBroker();
  await using fleet = await setup(broker.url);
  const zip = randomBytes(300_000);
  const wrong = "0".repeat(64);
  await fleet.stores.objects.putBlob({ name: wrong }, zip);
  await assert.rejects(fleet.fetcher.fetch(wrong), /sha256 is/);
  assert.deepEqual([...Deno.readDirSync(fleet.dir)], [], "nothing unverified is kept");
});
