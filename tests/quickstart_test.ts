/**
 * The README's quick start as a new user runs it: no configuration at all, a first start,
 * the simulated robot answering. (Run as root, projects then run as the sandbox user, on an
 * interpreter that user can run, whatever `python.command` is.)
 */
import assert from "node:assert/strict";
import { Client, delay, startAgent, withToken } from "./_agent.ts";

Deno.test("with no configuration, a first start serves the simulated robot to the printed URL", async () => {
  // An empty sandbox section: tests/_agent.ts adds no sandbox.python, as a user's run would not.
  await using agent = await startAgent({ token: null, config: "sandbox: {}\n" });
  const pattern = /ws:\/\/[^\s]+\/ws\?token=(ra_[A-Za-z0-9_-]+)/;
  for (let i = 0; i < 100 && !pattern.test(agent.stdout); i++) await delay(20);
  const token = pattern.exec(agent.stdout)?.[1];
  assert.ok(token, agent.stdout);
  await using client = await Client.open(withToken(`ws://127.0.0.1:${agent.port}/ws`, token));
  const { ack, callback } = await client.call(1, "sport_client", "StandUp");
  assert.equal(ack.status, "success", ack.message);
  assert.equal(callback.data.ok, true, JSON.stringify(callback.data));
  assert.equal(callback.data.result.mode, "standing");
  if (Deno.uid() === 0) {
    const status = await client.request({ command: "status", id: "s" });
    assert.notEqual(status.data.project.confinement.user.uid, 0, "not as root");
  }
});
