/** A Python client written only from the seed document drives the real agent. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startAgent } from "./_agent.ts";

Deno.test("a stdlib-only Python client written from the seed runs update, start and process", async () => {
  await using agent = await startAgent();
  const result = await new Deno.Command("python3", {
    args: [join(import.meta.dirname ?? ".", "seed_client.py"), agent.url],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const output = new TextDecoder().decode(result.stdout) + new TextDecoder().decode(result.stderr);
  assert.equal(result.code, 0, output);
  const steps = output.trim().split("\n").map((line) => JSON.parse(line).step);
  assert.deepEqual(steps, [
    "process ack",
    "process callback",
    "update",
    "start",
    "process ack",
    "process callback",
    "unknown method",
  ]);
});
