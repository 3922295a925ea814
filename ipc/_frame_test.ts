import assert from "node:assert/strict";
import { encodeFrame, FrameReader, FrameTooLargeError } from "./_frame.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const frame = (s: string) => encodeFrame(new TextEncoder().encode(s));

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

Deno.test("encodeFrame writes a 4-byte big-endian length before the payload", () => {
  const bytes = encodeFrame(new Uint8Array(0x010203));
  assert.deepEqual([...bytes.subarray(0, 4)], [0, 1, 2, 3]);
  assert.equal(bytes.length, 4 + 0x010203);
});

Deno.test("FrameReader returns coalesced frames from one chunk in order", () => {
  const reader = new FrameReader(1024);
  const out = reader.push(concat(frame("one"), frame(""), frame("three")));
  assert.deepEqual(out.map(text), ["one", "", "three"]);
  assert.equal(reader.buffered, 0);
});

Deno.test("FrameReader reassembles a frame split byte by byte", () => {
  const reader = new FrameReader(1024);
  const bytes = concat(frame("hello"), frame("world"));
  const out: string[] = [];
  for (const byte of bytes) out.push(...reader.push(new Uint8Array([byte])).map(text));
  assert.deepEqual(out, ["hello", "world"]);
});

Deno.test("FrameReader keeps a split frame intact when the caller reuses its buffer", () => {
  const reader = new FrameReader(1024);
  const bytes = concat(frame("abcdef"), frame("gh"));
  const buffer = new Uint8Array(7);
  buffer.set(bytes.subarray(0, 7));
  assert.deepEqual(reader.push(buffer), []);
  buffer.fill(0);
  buffer.set(bytes.subarray(7, 14));
  const rest = reader.push(bytes.subarray(14));
  assert.deepEqual([...reader.push(new Uint8Array()), ...rest].map(text).length, 0);
  const again = new FrameReader(1024);
  const parts = [bytes.subarray(0, 3), bytes.subarray(3, 9), bytes.subarray(9)];
  const got = parts.flatMap((part) => again.push(part.slice()).map((p) => text(p.slice())));
  assert.deepEqual(got, ["abcdef", "gh"]);
});

Deno.test("FrameReader rejects a length over the limit before the payload arrives", () => {
  const reader = new FrameReader(16);
  assert.throws(() => reader.push(new Uint8Array([0, 0, 0, 17])), FrameTooLargeError);
  const split = new FrameReader(16);
  assert.deepEqual(split.push(new Uint8Array([0xff, 0xff])), []);
  assert.throws(() => split.push(new Uint8Array([0xff, 0xff])), /exceeds the limit of 16 bytes/);
});

Deno.test("FrameReader accepts a frame exactly at the limit", () => {
  const reader = new FrameReader(3);
  assert.deepEqual(reader.push(frame("abc")).map(text), ["abc"]);
});
