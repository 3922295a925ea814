/**
 * End-to-end: a C++ executable that cannot run here is refused at UPDATE, saying why,
 * and one the kernel refuses to exec fails its START rather than "starting" and exiting.
 */
import assert from "node:assert/strict";
import { buildCpp, type Client, makeZip, type Message, startAgent } from "./_agent.ts";
import { craftElf } from "./_elf_craft.ts";

const HOST = Deno.build.arch;
const OTHER = HOST === "aarch64" ? "x86_64" : "aarch64";
const MACHINE: Record<string, number> = { x86_64: 62, aarch64: 183 };

const HELLO = `
#include <cstdio>
#include <unistd.h>
int main() { std::puts("hello"); sleep(30); return 0; }
`;

async function updateWith(client: Client, app: Uint8Array, id: string): Promise<Message> {
  const zip = await makeZip({ app }, { modes: { app: 0o755 } });
  return await client.request({ command: "update", id, data: zip.toBase64() });
}

/** `binary` with its program loader's name changed to one no machine has. */
function withMissingLoader(binary: Uint8Array): { bytes: Uint8Array; loader: string } {
  const text = new TextDecoder("latin1").decode(binary);
  const at = text.indexOf("/ld-linux");
  assert.ok(at > 0, "a dynamically linked binary names its loader");
  const start = text.lastIndexOf("\0", at) + 1;
  const end = text.indexOf("\0", at);
  const bytes = binary.slice();
  bytes[end - 1] = "X".charCodeAt(0);
  return { bytes, loader: new TextDecoder("latin1").decode(bytes.subarray(start, end)) };
}

Deno.test("UPDATE refuses an executable built for another machine with WRONG_ARCH naming both", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  const refused = await updateWith(client, craftElf({ machine: MACHINE[OTHER] }), "u");
  assert.equal(refused.code, "WRONG_ARCH", refused.message);
  assert.match(refused.message, new RegExp(`built for ${OTHER}, but this machine is ${HOST}`));
  assert.deepEqual(refused.data, { entry: "app", built_for: OTHER, machine: HOST });
  const status = await client.request({ command: "status", id: "st" });
  assert.equal(status.data.project.version, 0, "nothing was deployed");
  assert.equal((await client.call("g", "sport_client", "GetState")).callback.data.ok, true);
});

Deno.test("UPDATE refuses an executable whose program loader this machine lacks, naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "elf-check-" });
  try {
    const { bytes, loader } = withMissingLoader(await buildCpp(HELLO, dir));
    await using agent = await startAgent();
    await using client = await agent.connect();
    const refused = await updateWith(client, bytes, "u");
    assert.equal(refused.code, "NO_PROJECT", refused.message);
    assert.ok(refused.message.includes(`needs the program loader ${loader}`), refused.message);
    assert.equal(refused.data.loader, loader);
    // The same binary, unpatched, deploys and starts.
    const good = await updateWith(client, await Deno.readFile(`${dir}/app`), "u2");
    assert.equal(good.status, "success", good.message);
    const started = await client.request({ command: "start", id: "s" });
    assert.equal(started.status, "success", started.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an executable the kernel refuses to exec fails its START with START_FAILED", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  // Right machine, but a program header size the kernel rejects: ENOEXEC at exec.
  const updated = await updateWith(client, craftElf({ machine: MACHINE[HOST], phentsize: 1 }), "u");
  assert.equal(updated.status, "success", updated.message);
  const started = await client.request({ command: "start", id: "s" });
  assert.equal(started.code, "START_FAILED", started.message);
  assert.match(started.message, /[Ee]xec format error/);
});
