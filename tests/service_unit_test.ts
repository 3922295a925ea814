/** The shipped systemd unit passes `systemd-analyze verify` (with a stand-in binary). */
import assert from "node:assert/strict";
import { join } from "node:path";

const UNIT = join(import.meta.dirname ?? ".", "..", "scripts", "robot-agent.service");

Deno.test("robot-agent.service passes systemd-analyze verify without warnings", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // verify checks that ExecStart exists; point it at a real executable.
    const text = (await Deno.readTextFile(UNIT)).replaceAll(
      "/opt/robot-agent/robot-agent",
      "/bin/true",
    );
    assert.match(text, /KillMode=mixed/);
    const unit = join(dir, "robot-agent.service");
    await Deno.writeTextFile(unit, text);
    const result = await new Deno.Command("systemd-analyze", { args: ["verify", unit] }).output();
    const output = new TextDecoder().decode(result.stderr) +
      new TextDecoder().decode(result.stdout);
    assert.equal(result.code, 0, output);
    assert.equal(output.trim(), "", output);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
