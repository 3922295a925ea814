import assert from "node:assert/strict";
import { Heartbeat } from "./_heartbeat.ts";

Deno.test("Heartbeat reports a peer that leaves a ping unanswered", async () => {
  const silent = Promise.withResolvers<number>();
  let pings = 0;
  using _heartbeat = new Heartbeat({
    timeoutMs: 50,
    intervalMs: 10,
    ping: () => {
      pings++;
      return new Promise(() => {});
    },
    onSilent: (ms) => silent.resolve(ms),
  });
  await silent.promise;
  assert.equal(pings, 1, "no second ping while one is outstanding");
});

Deno.test("Heartbeat keeps quiet while pings are answered", async () => {
  let silent = false;
  let pings = 0;
  const heartbeat = new Heartbeat({
    timeoutMs: 30,
    intervalMs: 5,
    ping: () => {
      pings++;
      return Promise.resolve();
    },
    onSilent: () => silent = true,
  });
  await new Promise((resolve) => setTimeout(resolve, 150));
  heartbeat.stop();
  assert.equal(silent, false);
  assert.ok(pings > 2, `pinged ${pings} times`);
});
