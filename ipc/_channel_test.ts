import assert from "node:assert/strict";
import { join } from "node:path";
import { IpcChannel, type IpcMessage } from "./_channel.ts";
import { acceptOne, connectUnix, listenUnix } from "./_socket.ts";

/** A test message: any fields beside `t`. */
interface TestMessage extends IpcMessage {
  [key: string]: unknown;
}

interface Got {
  message: TestMessage;
  body?: Uint8Array;
}

async function pair(
  maxFrameBytes = 1 << 20,
): Promise<
  {
    a: IpcChannel<TestMessage, TestMessage>;
    b: IpcChannel<TestMessage, TestMessage>;
    got: Got[];
    dir: string;
    wait(n: number): Promise<void>;
  }
> {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "s.sock");
  const listener = listenUnix(path);
  const [server, client] = await Promise.all([
    acceptOne(listener, { timeoutMs: 5000 }),
    connectUnix(path),
  ]);
  listener.close();
  const got: Got[] = [];
  let waiter: { n: number; resolve(): void } | undefined;
  const a = new IpcChannel<TestMessage, TestMessage>(client, { maxFrameBytes, onMessage() {} });
  const b = new IpcChannel<TestMessage, TestMessage>(server, {
    maxFrameBytes,
    onMessage(message, body) {
      got.push({ message, body });
      if (waiter && got.length >= waiter.n) waiter.resolve();
    },
  });
  const wait = (n: number) =>
    got.length >= n ? Promise.resolve() : new Promise<void>((resolve) => (waiter = { n, resolve }));
  return { a, b, got, dir, wait };
}

Deno.test("IpcChannel delivers many small messages in order", async () => {
  const { a, b, got, dir, wait } = await pair();
  try {
    for (let i = 0; i < 5000; i++) a.send({ t: "call", id: i });
    await wait(5000);
    assert.deepEqual(got.map((g) => g.message.id), [...Array(5000).keys()]);
  } finally {
    a.close();
    b.close();
    await Promise.all([a.closed, b.closed]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("IpcChannel carries a binary body byte for byte beside the JSON", async () => {
  const { a, b, got, dir, wait } = await pair(8 << 20);
  try {
    const body = new Uint8Array(3 << 20).map((_, i) => (i * 7) & 0xff);
    a.send({ t: "req", op: "update" }, body);
    a.send({ t: "req", op: "status" });
    await wait(2);
    assert.equal(got[0].message.op, "update");
    assert.equal(got[0].body?.length, body.length);
    assert.ok(got[0].body?.every((byte, i) => byte === body[i]), "body bytes differ");
    assert.equal(got[1].message.op, "status");
    assert.equal(got[1].body, undefined);
  } finally {
    a.close();
    b.close();
    await Promise.all([a.closed, b.closed]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("IpcChannel refuses to send a frame over the limit", async () => {
  const { a, b, dir } = await pair(1024);
  try {
    assert.throws(() => a.send({ t: "x" }, new Uint8Array(2000)), RangeError);
  } finally {
    a.close();
    b.close();
    await Promise.all([a.closed, b.closed]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("IpcChannel closes with an error when the peer announces an oversized frame", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "s.sock");
  const listener = listenUnix(path);
  try {
    const [server, raw] = await Promise.all([
      acceptOne(listener, { timeoutMs: 5000 }),
      connectUnix(path),
    ]);
    const channel = new IpcChannel<TestMessage, TestMessage>(server, {
      maxFrameBytes: 64,
      onMessage() {},
    });
    await raw.write(new Uint8Array([0, 0, 1, 0]));
    await channel.closed;
    assert.match(channel.error?.message ?? "", /exceeds the limit of 64 bytes/);
    raw.close();
  } finally {
    listener.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("IpcChannel lets an urgent message overtake queued bulk frames", async () => {
  const { a, b, got, dir, wait } = await pair(8 << 20);
  try {
    for (let i = 0; i < 4; i++) a.send({ t: "bulk", i }, new Uint8Array(1 << 20));
    a.send({ t: "urgent" }, undefined, { urgent: true });
    await wait(5);
    const order = got.map((g) => g.message.t === "bulk" ? `bulk${g.message.i}` : "urgent");
    // The first bulk frame may already be on its way; the urgent one passes the rest.
    assert.ok(order.indexOf("urgent") <= 1, order.join(","));
    assert.deepEqual(order.filter((t) => t !== "urgent"), ["bulk0", "bulk1", "bulk2", "bulk3"]);
    for (const g of got) if (g.message.t === "bulk") assert.equal(g.body?.length, 1 << 20);
  } finally {
    a.close();
    b.close();
    await Promise.all([a.closed, b.closed]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("IpcChannel writes a small frame with a body in one write, a large one as is", async () => {
  const writes: number[] = [];
  const closed = Promise.withResolvers<null>();
  const conn = {
    read: () => closed.promise,
    write: (bytes: Uint8Array) => Promise.resolve(writes.push(bytes.length) && bytes.length),
    close: () => closed.resolve(null),
  } as unknown as Deno.Conn;
  const channel = new IpcChannel<TestMessage, TestMessage>(conn, {
    maxFrameBytes: 1 << 20,
    onMessage() {},
  });
  channel.send({ t: "cb", id: 1 }, new TextEncoder().encode("null"));
  await new Promise((resolve) => setTimeout(resolve, 10));
  // Two lengths, 17 bytes of JSON and 4 of body.
  assert.deepEqual(writes, [29]);
  channel.send({ t: "cb", id: 2 }, new Uint8Array(100_000));
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(writes, [29, 25, 100_000]);
  channel.close();
  await channel.closed;
});
