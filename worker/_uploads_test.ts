import assert from "node:assert/strict";
import { pythonSha256 } from "./_uploads.ts";

const PYTHON = "python3";

Deno.test("pythonSha256 hashes a file as WebCrypto does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const data = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) => (i * 31) & 0xff);
    await Deno.writeFile(`${dir}/upload.part`, data);
    const expected = [...new Uint8Array(await crypto.subtle.digest("SHA-256", data))]
      .map((byte) => byte.toString(16).padStart(2, "0")).join("");
    assert.equal(await pythonSha256(PYTHON)(`${dir}/upload.part`), expected);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pythonSha256 says why when it cannot hash", async () => {
  await assert.rejects(
    pythonSha256(PYTHON)("/nonexistent/upload.part"),
    /python3 exited with code 1: FileNotFoundError: .*No such file/,
  );
});
