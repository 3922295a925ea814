import assert from "node:assert/strict";
import {
  encodeChunk,
  MAX_ARGS_DEPTH,
  parseBinaryMessage,
  parseTextMessage,
  ProtocolError,
} from "./_protocol.ts";
import { encodeServerMessage, RawJson, reply } from "./_replies.ts";

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof ProtocolError ? error.code : "not a ProtocolError";
  }
  return undefined;
}

Deno.test("parseTextMessage accepts the seed's three commands unchanged", () => {
  assert.deepEqual(parseTextMessage('{"command":"start"}'), { command: "start", id: undefined });
  const process = parseTextMessage(
    '{"command":"process","params":{"object":"sport_client","method":"Move","args":{"vx":1}}}',
  );
  assert.deepEqual(process, {
    command: "process",
    id: undefined,
    object: "sport_client",
    method: "Move",
    args: { vx: 1 },
  });
  const update = parseTextMessage(JSON.stringify({ command: "update", data: "UEsFBg==", id: 3 }));
  assert.equal(update.command, "update");
  assert.equal(update.id, 3);
  assert.deepEqual(update.command === "update" && [...update.data], [0x50, 0x4b, 0x05, 0x06]);
});

Deno.test("parseTextMessage treats missing or null args as no arguments", () => {
  for (const args of ["", ',"args":null']) {
    const parsed = parseTextMessage(
      `{"command":"process","params":{"object":"a","method":"b"${args}}}`,
    );
    assert.equal(parsed.command === "process" && Object.keys(parsed.args).length, 0);
  }
});

Deno.test("parseTextMessage refuses malformed messages with stable codes and the id", () => {
  assert.equal(code(() => parseTextMessage("{")), "BAD_REQUEST");
  assert.equal(code(() => parseTextMessage("[]")), "BAD_REQUEST");
  assert.equal(code(() => parseTextMessage('{"command":7}')), "BAD_REQUEST");
  assert.equal(code(() => parseTextMessage('{"command":"fly"}')), "UNKNOWN_COMMAND");
  assert.equal(code(() => parseTextMessage('{"command":"update","data":"%%%"}')), "BAD_BASE64");
  assert.equal(code(() => parseTextMessage('{"command":"start","id":{}}')), "BAD_REQUEST");
  assert.equal(
    code(() => parseTextMessage('{"command":"process","params":{"object":"a","method":""}}')),
    "BAD_REQUEST",
  );
  try {
    parseTextMessage('{"command":"process","id":"x9","params":{"object":"a"}}');
    assert.fail("expected an error");
  } catch (error) {
    assert.ok(error instanceof ProtocolError);
    assert.equal(error.id, "x9");
    assert.match(error.message, /params\.method must be a non-empty string/);
  }
});

Deno.test("parseTextMessage refuses args nested past the limit, and accepts them at it", () => {
  const nest = (depth: number) => "[".repeat(depth - 1) + "]".repeat(depth - 1);
  const at = `{"command":"process","params":{"object":"a","method":"b","args":{"x":${
    nest(MAX_ARGS_DEPTH)
  }}}}`;
  assert.equal(parseTextMessage(at).command, "process");
  const over = `{"command":"process","params":{"object":"a","method":"b","args":{"x":${
    nest(10_000)
  }}}}`;
  assert.equal(code(() => parseTextMessage(over)), "BAD_REQUEST");
});

Deno.test("parseBinaryMessage reads a chunk built by encodeChunk, and anything else as a zip", () => {
  const data = new Uint8Array([1, 2, 3, 4, 5]);
  const chunk = parseBinaryMessage(encodeChunk("abc", 1024, data, 9));
  assert.equal(chunk.command, "upload_chunk");
  if (chunk.command !== "upload_chunk") return;
  assert.equal(chunk.uploadId, "abc");
  assert.equal(chunk.offset, 1024);
  assert.equal(chunk.id, 9);
  assert.deepEqual([...chunk.data], [...data]);
  const zip = parseBinaryMessage(new Uint8Array([0x50, 0x4b, 3, 4]));
  assert.equal(zip.command, "update");
  const bad = new Uint8Array([0x52, 0x41, 0x43, 0x31, 0, 0, 1, 0, 0x7b]);
  assert.equal(code(() => parseBinaryMessage(bad)), "BAD_REQUEST");
});

Deno.test("reply includes id and code only when given, and always data", () => {
  assert.deepEqual(reply("success", "ok"), { status: "success", message: "ok", data: {} });
  assert.deepEqual(reply("error", "no", { id: 0, code: "BAD_REQUEST" }), {
    status: "error",
    message: "no",
    data: {},
    code: "BAD_REQUEST",
    id: 0,
  });
});

Deno.test("encodeServerMessage puts raw JSON in place, the same as parsing it would", () => {
  const raw = '{"ranges":[1.5,2,null],"note":"caf\u00e9 \\"x\\"","deep":[[{}]]}';
  const value = JSON.parse(raw);
  const outcome = { object: "lidar", method: "scan", ok: true };
  for (const id of [7, "a-7", undefined]) {
    const callback = {
      status: "callback" as const,
      data: { ...outcome, result: new RawJson(raw) },
    };
    const text = encodeServerMessage(id === undefined ? callback : { ...callback, id });
    const expected = { status: "callback", data: { ...outcome, result: value } };
    assert.deepEqual(JSON.parse(text), id === undefined ? expected : { ...expected, id });
  }
  for (const scalar of ["null", "0", '"s"', "[]"]) {
    const text = encodeServerMessage({ status: "callback", event: "e", data: new RawJson(scalar) });
    assert.deepEqual(JSON.parse(text), {
      status: "callback",
      event: "e",
      data: JSON.parse(scalar),
    });
  }
  // Anything without raw JSON is plain JSON.stringify; RawJson elsewhere still serializes.
  const plain = reply("success", "ok", { id: 1, data: { result: 2 } });
  assert.equal(encodeServerMessage(plain), JSON.stringify(plain));
  assert.equal(JSON.stringify({ nested: [new RawJson("[1]")] }), '{"nested":[[1]]}');
});

Deno.test("encodeServerMessage matches JSON.stringify for generated values", () => {
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const value = (depth: number): unknown => {
    const pick = Math.floor(next() * (depth > 3 ? 4 : 6));
    if (pick === 0) return null;
    if (pick === 1) return next() < 0.5;
    if (pick === 2) return Math.round((next() - 0.5) * 1e6) / 1e3;
    if (pick === 3) return String.fromCharCode(...Array.from({ length: 5 }, () => next() * 0x800));
    if (pick === 4) return Array.from({ length: Math.floor(next() * 4) }, () => value(depth + 1));
    return Object.fromEntries(
      Array.from({ length: Math.floor(next() * 4) }, (_, i) => [`k${i}"`, value(depth + 1)]),
    );
  };
  for (let i = 0; i < 500; i++) {
    const result = value(0);
    const id = i % 3 === 0 ? undefined : i % 3 === 1 ? i : `c-${i}`;
    const data = { object: "o", method: "m", ok: true };
    const raw = {
      status: "callback" as const,
      id,
      data: { ...data, result: new RawJson(JSON.stringify(result)) },
    };
    assert.deepEqual(
      JSON.parse(encodeServerMessage(raw)),
      JSON.parse(JSON.stringify({ status: "callback", id, data: { ...data, result } })),
    );
    const event = {
      status: "callback" as const,
      event: "e",
      data: new RawJson(JSON.stringify(result)),
    };
    assert.deepEqual(JSON.parse(encodeServerMessage(event)), {
      status: "callback",
      event: "e",
      data: result,
    });
  }
});
