import assert from "node:assert/strict";
import { encodeChunk as gatewayEncodeChunk } from "../gateway/mod.ts";
import {
  type ClientId,
  encodeChunk,
  RobotEvent,
  type ServerMessage,
  sha256Hex,
  type UploadBeginResult,
  type UploadProgress,
  type UploadTransport,
  uploadZip,
} from "./mod.ts";

Deno.test("encodeChunk makes the same bytes as the gateway's encoder", () => {
  const data = new Uint8Array([1, 2, 3, 250]);
  assert.deepEqual(encodeChunk("abc", 42, data, "c-1"), gatewayEncodeChunk("abc", 42, data, "c-1"));
  assert.deepEqual(encodeChunk("abc", 0, data), gatewayEncodeChunk("abc", 0, data));
});

Deno.test("sha256Hex is the lowercase hex SHA-256", async () => {
  assert.equal(
    await sha256Hex(new TextEncoder().encode("abc")),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});

/** An agent's upload side in memory: stores chunks in order, as the worker does. */
class FakeUploads extends EventTarget implements UploadTransport {
  stored = 0;
  size = 0;
  begins = 0;
  chunks: { offset: number; length: number }[] = [];
  /** Called before each chunk is stored; return false to refuse it as misplaced. */
  accept: (offset: number) => boolean = () => true;
  #waiters = new Map<ClientId, ((m: ServerMessage) => void)[]>();
  #ids = 0;
  #beginId: ClientId | undefined;

  nextId(prefix = "r"): string {
    return `${prefix}-${++this.#ids}`;
  }

  request(
    _command: "upload_begin",
    params: { size: number; sha256: string },
    options: { id: ClientId },
  ): Promise<UploadBeginResult> {
    this.begins++;
    this.size = params.size;
    this.#beginId = options.id;
    return Promise.resolve({
      upload_id: params.sha256,
      offset: this.stored,
      size: params.size,
      received: this.stored,
      max_chunk_bytes: 1 << 20,
    });
  }

  nextReply(id: ClientId): Promise<ServerMessage> {
    return new Promise((resolve) => {
      this.#waiters.set(id, [...(this.#waiters.get(id) ?? []), resolve]);
    });
  }

  #reply(id: ClientId | undefined, message: ServerMessage): void {
    const queue = id === undefined ? undefined : this.#waiters.get(id);
    queue?.shift()?.({ ...message, id });
  }

  sendBinary(bytes: Uint8Array): void {
    const length = new DataView(bytes.buffer, bytes.byteOffset + 4, 4).getUint32(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
    const data = bytes.subarray(8 + length);
    queueMicrotask(() => {
      if (header.offset !== this.stored || !this.accept(header.offset)) {
        this.#reply(header.id, { status: "error", code: "UPLOAD_ERROR", data: {} });
        return;
      }
      this.chunks.push({ offset: header.offset, length: data.length });
      this.stored += data.length;
      const progress = { upload_id: header.upload_id, size: this.size, received: this.stored };
      if (this.stored < this.size) {
        this.dispatchEvent(new RobotEvent("upload_progress", progress));
      } else {
        this.#reply(this.#beginId, {
          status: "success",
          data: { ...progress, complete: true, version: 7 },
        });
      }
    });
  }

  ready(): Promise<void> {
    return Promise.resolve();
  }
}

Deno.test("uploadZip sends the zip in chunks and resolves with the deploy's outcome", async () => {
  const agent = new FakeUploads();
  const zip = crypto.getRandomValues(new Uint8Array(10_000));
  const phases: UploadProgress["phase"][] = [];
  const outcome = await uploadZip(agent, zip, {
    chunkBytes: 1000,
    onProgress: (p) => phases.push(p.phase),
  });
  assert.equal(outcome.version, 7);
  assert.equal(agent.chunks.length, 10);
  assert.deepEqual(agent.chunks.map((c) => c.offset), [...Array(10).keys()].map((i) => i * 1000));
  assert.equal(phases.at(-1), "deploying");
  assert.ok(phases.includes("uploading"));
});

Deno.test("uploadZip resumes from the offset the agent reports", async () => {
  const agent = new FakeUploads();
  agent.stored = 4000;
  const zip = crypto.getRandomValues(new Uint8Array(10_000));
  const reports: UploadProgress[] = [];
  await uploadZip(agent, zip, { chunkBytes: 1000, onProgress: (p) => reports.push(p) });
  assert.equal(agent.chunks[0].offset, 4000);
  assert.equal(agent.chunks.length, 6);
  assert.deepEqual(reports[0], {
    phase: "resumed",
    received: 4000,
    total: 10_000,
    bytesPerSecond: 0,
    etaSeconds: undefined,
  });
});

Deno.test("uploadZip begins again after a chunk is refused as misplaced", async () => {
  const agent = new FakeUploads();
  let refusals = 0;
  agent.accept = (offset) => !(offset === 3000 && refusals++ === 0);
  const zip = crypto.getRandomValues(new Uint8Array(6000));
  const outcome = await uploadZip(agent, zip, { chunkBytes: 1000, chunksInFlight: 1 });
  assert.equal(outcome.version, 7);
  assert.equal(agent.begins, 2);
  assert.equal(agent.stored, 6000);
});

Deno.test("uploadZip starts a new pass when the link drops mid-upload", async () => {
  const agent = new FakeUploads();
  const zip = crypto.getRandomValues(new Uint8Array(8000));
  const phases: string[] = [];
  let dropped = false;
  agent.accept = (offset) => {
    if (offset !== 2000 || dropped) return true;
    dropped = true;
    agent.dispatchEvent(new Event("disconnect"));
    return false;
  };
  await uploadZip(agent, zip, {
    chunkBytes: 1000,
    chunksInFlight: 1,
    onProgress: (p) => phases.push(p.phase),
  });
  assert.equal(agent.begins, 2);
  assert.ok(phases.includes("interrupted"), phases.join());
  assert.ok(phases.includes("resumed"), phases.join());
  assert.equal(agent.stored, 8000);
});
