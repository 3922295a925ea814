import assert from "node:assert/strict";
import { crc32 as nativeCrc32 } from "node:zlib";
import { crc32 } from "./_crc32.ts";

Deno.test("crc32 gives the check value of the zip polynomial", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array()), 0);
});

Deno.test("crc32 agrees with node:zlib for every length and split point", () => {
  const data = new Uint8Array(4099);
  crypto.getRandomValues(data);
  for (let length = 0; length < 40; length++) {
    assert.equal(crc32(data.subarray(0, length)), nativeCrc32(data.subarray(0, length)));
  }
  for (const split of [0, 1, 7, 8, 9, 1000, 4098, 4099]) {
    const continued = crc32(data.subarray(split), crc32(data.subarray(0, split)));
    assert.equal(continued, nativeCrc32(data), `split at ${split}`);
  }
});
