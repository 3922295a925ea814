import assert from "node:assert/strict";
import { agentUrl, displayUrl } from "./mod.ts";

Deno.test("agentUrl reads a bare host as ws://HOST:8000/ws", () => {
  assert.equal(agentUrl("go2"), "ws://go2:8000/ws");
  assert.equal(agentUrl("192.168.123.161:9000"), "ws://192.168.123.161:9000/ws");
  assert.equal(agentUrl("go2/"), "ws://go2:8000/");
});

Deno.test("agentUrl keeps ws URLs, turns http into ws, and adds token and session", () => {
  assert.equal(agentUrl("wss://robot.example/ws"), "wss://robot.example/ws");
  assert.equal(agentUrl("http://go2:8000"), "ws://go2:8000/");
  assert.equal(
    agentUrl("ws://go2:8000/ws", { token: "ra_a+b", session: "s1" }),
    "ws://go2:8000/ws?token=ra_a%2Bb&session=s1",
  );
});

Deno.test("agentUrl refuses what is not a WebSocket address", () => {
  assert.throws(() => agentUrl("ftp://go2/ws"), TypeError);
  assert.throws(() => agentUrl("ws://"), TypeError);
});

Deno.test("displayUrl hides the token and leaves the session out", () => {
  assert.equal(
    displayUrl("ws://go2:8000/ws?token=ra_secret&session=abc"),
    "ws://go2:8000/ws?token=***",
  );
  assert.equal(displayUrl("ws://go2:8000/ws?session=abc&x=1"), "ws://go2:8000/ws?x=1");
});
