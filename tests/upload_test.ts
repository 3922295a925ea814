/**
 * End-to-end: chunked uploads with binary and base64 chunks, progress, resume after a
 * reconnect, refusal of bad chunks, and the limit on uploads in progress.
 */
import assert from "node:assert/strict";
import { encodeChunk } from "../gateway/mod.ts";
import { type Client, makeZip, type Message, sha256, startAgent } from "./_agent.ts";

async function bigProject(padding: number): Promise<Uint8Array> {
  const noise = new Uint8Array(padding);
  for (let at = 0; at < padding; at += 65536) {
    crypto.getRandomValues(noise.subarray(at, Math.min(padding, at + 65536)));
  }
  return await makeZip(
    { "main.py": "class Big:\n    def size(self):\n        return 'big'\n", "padding.bin": noise },
    { level: 0 },
  );
}

async function sendBinaryChunks(
  client: Client,
  id: string,
  zip: Uint8Array,
  from: number,
  to: number,
  size: number,
) {
  for (let offset = from; offset < to; offset += size) {
    const progress = client.event("upload_progress");
    client.send(encodeChunk(id, offset, zip.subarray(offset, Math.min(to, offset + size))));
    const event = await progress;
    assert.equal(event.data.received, Math.min(to, offset + size));
  }
}

Deno.test("a chunked upload resumes after a reconnect and deploys under the begin id", async () => {
  await using agent = await startAgent();
  const zip = await bigProject(3 * 1024 * 1024);
  const digest = await sha256(zip);
  const chunk = 256 * 1024;
  const half = Math.floor(zip.length / 2 / chunk) * chunk;

  const first = await agent.connect();
  const begun = await first.request({
    command: "upload_begin",
    id: "up",
    params: { size: zip.length, sha256: digest },
  });
  assert.equal(begun.status, "success", begun.message);
  assert.equal(begun.data.upload_id, digest);
  assert.equal(begun.data.offset, 0);
  assert.ok(begun.data.max_chunk_bytes >= chunk);
  await sendBinaryChunks(first, digest, zip, 0, half, chunk);
  await first.close();

  // Reconnect: the agent says where the upload stands; the rest goes as base64 text.
  await using second = await agent.connect();
  const resumed = await second.request({
    command: "upload_begin",
    id: "up2",
    params: { size: zip.length, sha256: digest },
  });
  assert.equal(resumed.data.offset, half);

  const wrong = await second.request({
    command: "upload_chunk",
    id: "wrong",
    params: { upload_id: digest, offset: 0, data: zip.subarray(0, 10).toBase64() },
  });
  assert.equal(wrong.status, "error");
  assert.equal(wrong.code, "UPLOAD_ERROR");
  assert.equal(wrong.data.received, half);

  let final: Promise<unknown> | undefined;
  for (let offset = half; offset < zip.length; offset += chunk) {
    const end = Math.min(zip.length, offset + chunk);
    if (end === zip.length) final = second.reply("up2");
    const stored = await second.request({
      command: "upload_chunk",
      id: `c${offset}`,
      params: { upload_id: digest, offset, data: zip.subarray(offset, end).toBase64() },
    });
    assert.equal(stored.status, "success", stored.message);
    assert.equal(stored.data.received, end);
  }
  const deployed = await final as Record<string, Record<string, unknown>>;
  assert.equal(deployed.status, "success");
  assert.equal(deployed.data.type, "python");
  assert.equal(deployed.data.complete, true);
  assert.equal((await second.request({ command: "start", id: "s" })).status, "success");
  assert.equal((await second.call("c", "Big", "size")).callback.data.result, "big");
  assert.deepEqual([...Deno.readDirSync(`${agent.storage}/uploads`)], []);
});

Deno.test("an upload whose data does not match its sha256 is refused and nothing changes", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  const claimed = await sha256(new TextEncoder().encode("something else"));
  // A valid zip, and bytes that are no zip at all: either way the digest is what is
  // reported, since data that is not what was sent says nothing else reliable.
  for (
    const [id, data] of [["b1", await bigProject(1024)], ["b2", new Uint8Array(5000)]] as const
  ) {
    const begun = await client.request({
      command: "upload_begin",
      id,
      params: { size: data.length, sha256: claimed },
    });
    assert.equal(begun.status, "success");
    const final = client.reply(id);
    client.send(encodeChunk(claimed, 0, data));
    const refused = await final;
    assert.equal(refused.status, "error");
    assert.equal(refused.code, "UPLOAD_ERROR", refused.message);
    assert.match(refused.message, /sha256 of the data is [0-9a-f]{64}, not /);
  }
  const status = await client.request({ command: "status", id: "st" });
  assert.equal(status.data.project.version, 0);
  assert.equal((await client.call(1, "sport_client", "GetState")).callback.data.ok, true);
});

Deno.test("upload commands with bad declarations are refused with clear codes", async () => {
  await using agent = await startAgent({ config: "upload:\n  max_bytes: 100000\n" });
  await using client = await agent.connect();
  const cases: [Record<string, unknown>, string][] = [
    [{ size: -1, sha256: "0".repeat(64) }, "BAD_REQUEST"],
    [{ size: 10, sha256: "xyz" }, "UPLOAD_ERROR"],
    [{ size: 200000, sha256: "0".repeat(64) }, "ZIP_TOO_LARGE"],
  ];
  for (const [params, code] of cases) {
    const reply = await client.request({ command: "upload_begin", id: code, params });
    assert.equal(reply.code, code, reply.message);
  }
  const orphan = await client.request({
    command: "upload_chunk",
    id: "orphan",
    params: { upload_id: "f".repeat(64), offset: 0, data: "AAAA" },
  });
  assert.equal(orphan.code, "UPLOAD_ERROR");
  const badHeader = client.next();
  client.send(new Uint8Array([0x52, 0x41, 0x43, 0x31, 0, 0, 0, 200, 1, 2]));
  assert.equal((await badHeader).code, "BAD_REQUEST");
});

Deno.test("chunks pipelined right behind upload_begin are stored in order", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  const zip = await bigProject(2 * 1024 * 1024);
  const digest = await sha256(zip);
  const chunk = 256 * 1024;
  const final = client.reply("pipelined");
  // No waiting for the begin reply, nor for any progress: everything goes out at once.
  client.send({
    command: "upload_begin",
    id: "pipelined",
    params: { size: zip.length, sha256: digest },
  });
  let chunks = 0;
  for (let offset = 0; offset < zip.length; offset += chunk) {
    client.send(encodeChunk(digest, offset, zip.subarray(offset, offset + chunk)));
    chunks++;
  }
  const begun = await final;
  assert.equal(begun.status, "success", begun.message);
  assert.equal(begun.data.offset, 0);
  const deployed = await client.reply("pipelined");
  assert.equal(deployed.status, "success", deployed.message);
  assert.equal(deployed.data.type, "python");
  const errors = client.received.filter((m) => m.status === "error");
  assert.deepEqual(errors, []);
  const progress = client.received.filter((m) => m.event === "upload_progress");
  assert.equal(progress.length, chunks - 1);
});

/** The file descriptors process `pid` holds, and how many are partial uploads (`ls`: Deno reads /proc only with -A). */
async function fileDescriptors(pid: number): Promise<{ total: number; parts: number }> {
  const output = await new Deno.Command("ls", { args: ["-l", `/proc/${pid}/fd`] }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const links = new TextDecoder().decode(output.stdout).split("\n").filter((l) => l.includes("->"));
  return { total: links.length, parts: links.filter((l) => l.endsWith(".part")).length };
}

/** A distinct sha256-shaped upload id. */
function uploadId(n: number): string {
  return n.toString(16).padStart(64, "0");
}

/** Sends `upload_begin` for ids `from`…`to - 1`, in batches, and returns the replies in order. */
async function beginMany(client: Client, from: number, to: number): Promise<Message[]> {
  const replies: Message[] = [];
  for (let at = from; at < to; at += 100) {
    const batch = [];
    for (let n = at; n < Math.min(to, at + 100); n++) {
      batch.push(client.request({
        command: "upload_begin",
        id: `b${n}`,
        params: { size: 1000, sha256: uploadId(n) },
      }));
    }
    replies.push(...await Promise.all(batch));
  }
  return replies;
}

Deno.test("2,100 upload_begins are refused UPLOAD_LIMIT past the fourth and the worker keeps serving", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  const before = await client.request({ command: "status", id: "before" });
  const pid = before.data.worker.pid;
  assert.equal(typeof pid, "number");
  const idle = await fileDescriptors(pid);

  const replies = await beginMany(client, 0, 2100);
  assert.deepEqual(replies.slice(0, 4).map((r) => r.status), Array(4).fill("success"));
  const refused = replies.slice(4);
  assert.deepEqual([...new Set(refused.map((r) => r.code))], ["UPLOAD_LIMIT"]);
  assert.match(refused[0].message, /^Cannot begin upload: 4 uploads are in progress.*upload_abort/);
  assert.deepEqual(
    refused[0].data.in_progress.map((u: { upload_id: string }) => u.upload_id),
    [0, 1, 2, 3].map(uploadId),
  );

  // Still the same worker, serving calls, holding no file for the uploads it keeps.
  assert.equal((await client.call("c", "sport_client", "GetState")).callback.data.ok, true);
  const after = await client.request({ command: "status", id: "after" });
  assert.equal(after.data.worker.pid, pid);
  assert.equal(after.data.worker.restarts, 0);
  const held = await fileDescriptors(pid);
  assert.equal(held.parts, 0);
  assert.ok(held.total <= idle.total + 8, `the worker holds ${held.total} fds, ${idle.total} idle`);
  assert.deepEqual(
    [...Deno.readDirSync(`${agent.storage}/uploads`)].map((e) => e.name).sort(),
    [0, 1, 2, 3].map((n) => `${uploadId(n)}.part`),
  );
});

Deno.test("upload_abort removes an upload in progress and frees its place under the limit", async () => {
  await using agent = await startAgent({ config: "upload:\n  max_in_progress: 1\n" });
  await using client = await agent.connect();
  const [first, second] = await beginMany(client, 0, 2);
  assert.equal(first.status, "success", first.message);
  assert.equal(second.code, "UPLOAD_LIMIT");
  assert.match(second.message, /1 uploads are in progress/);
  const aborted = await client.request({
    command: "upload_abort",
    id: "abort",
    params: { upload_id: uploadId(0) },
  });
  assert.equal(aborted.status, "success", aborted.message);
  assert.deepEqual(aborted.data, { upload_id: uploadId(0), removed: true });
  assert.deepEqual([...Deno.readDirSync(`${agent.storage}/uploads`)], []);
  const again = await client.request({
    command: "upload_abort",
    id: "again",
    params: { upload_id: uploadId(0) },
  });
  assert.deepEqual(again.data, { upload_id: uploadId(0), removed: false });
  const [now] = await beginMany(client, 1, 2);
  assert.equal(now.status, "success", now.message);
});
