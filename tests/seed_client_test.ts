/** A Python client written only from the seed document drives the real agent. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startAgent } from "./_agent.ts";

const PYTHON_38 = `${Deno.env.get("HOME")}/.pyenv/versions/3.8.18/bin/python3`;
const HAS_PYTHON_38 = await Deno.stat(PYTHON_38).then(() => true, () => false);

for (const python of ["python3", PYTHON_38]) {
  Deno.test({
    name: `a stdlib-only Python client written from the seed runs update, start and process (${
      python === "python3" ? "python3" : "Python 3.8"
    })`,
    ignore: python === PYTHON_38 && !HAS_PYTHON_38,
    fn: () => seedFlows(python),
  });
}

Deno.test("a seed client without the token is refused before the upgrade", async () => {
  await using agent = await startAgent();
  const result = await new Deno.Command("python3", {
    args: [join(import.meta.dirname ?? ".", "seed_client.py"), agent.url.replace(/\?token=.*/, "")],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.notEqual(result.code, 0);
  assert.match(new TextDecoder().decode(result.stderr), /401/);
});

async function seedFlows(python: string): Promise<void> {
  await using agent = await startAgent();
  const result = await new Deno.Command(python, {
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
}
