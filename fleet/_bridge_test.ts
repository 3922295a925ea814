import assert from "node:assert/strict";
import { validateConfig } from "../config.ts";
import { CLOSE_TAKEN_OVER, WsGateway } from "../gateway/mod.ts";
import { FakeLink, FakeSocket, pythonTable, settle } from "../tests/_fakes.ts";
import { CommandBridge, type GatewayMessage } from "./_bridge.ts";

function setup(idleS = 60) {
  const link = new FakeLink();
  link.autoReply.set("safety_stop", { ran: [], errors: [] });
  link.autoReply.set("status", { project: { state: "running" } });
  const ops: string[] = [];
  const request = link.request.bind(link);
  link.request = ((op, params, body) => {
    ops.push(op);
    return request(op, params, body);
  }) as typeof link.request;
  const gateway = new WsGateway({ config: validateConfig({}), link, version: "0.0.0-test" });
  const events: GatewayMessage[] = [];
  const bridge = new CommandBridge({
    host: gateway,
    idleS,
    onEvent: (message) => events.push(message),
  });
  return { link, gateway, bridge, events, ops };
}

async function call(bridge: CommandBridge, id: string, takeover = false) {
  const { reply, later } = bridge.request(
    { command: "process", id, params: { object: "arm", method: "wave" } },
    { takeover },
  );
  return { reply: await reply, later };
}

/** The worker's answer to the first call the link carried: arm.wave returned 1. */
function answerFirstWave(link: ReturnType<typeof setup>["link"]): void {
  link.listener?.onCallback(link.calls[0].message.id, {
    object: "arm",
    method: "wave",
    ok: true,
    result: 1,
  });
}

Deno.test("CommandBridge answers status as an observer while a local client controls", async () => {
  const { bridge, gateway } = setup();
  const local = new FakeSocket();
  await gateway.accept(local.asWebSocket);
  const { reply } = bridge.request({ command: "status", id: "s1" });
  const status = await reply;
  assert.equal(status.status, "success");
  assert.equal(status.id, "s1");
  assert.equal(
    (status.data as { gateway: { you: { role: string } } }).gateway.you.role,
    "observer",
  );
  assert.equal(local.closed, undefined, "the local controller keeps its place");
  bridge.close();
  await settle();
});

Deno.test("CommandBridge refuses a call BUSY while a local client controls, unless it takes over", async () => {
  const { bridge, gateway, link, ops } = setup();
  link.publish(pythonTable({ arm: ["wave"] }));
  const local = new FakeSocket();
  await gateway.accept(local.asWebSocket);
  const refused = await call(bridge, "c1");
  assert.equal(refused.reply.status, "error");
  assert.equal(refused.reply.code, "BUSY");
  assert.equal(refused.reply.id, "c1");
  assert.equal(link.calls.length, 0);
  const taken = await call(bridge, "c2", true);
  assert.equal(taken.reply.status, "success", taken.reply.text);
  assert.equal(local.closed?.code, CLOSE_TAKEN_OVER);
  assert.deepEqual(ops, ["safety_stop"], "the safety stop ran before the takeover");
  assert.equal(link.calls.length, 1);
  bridge.close();
  await settle();
});

Deno.test("CommandBridge routes a call's ACK as its reply and its callback as the later message", async () => {
  const { bridge, link } = setup();
  link.publish(pythonTable({ arm: ["wave"] }));
  const { reply, later } = await call(bridge, "w");
  assert.equal(reply.message, "Call accepted");
  assert.ok(bridge.controls, "a call takes control");
  const sent = link.calls[0].message;
  link.listener?.onCallback(sent.id, { object: "arm", method: "wave", ok: true, result: ["wave"] });
  const callback = await later;
  assert.equal(callback.status, "callback");
  assert.equal(callback.id, "w");
  assert.deepEqual((callback.data as { result: unknown }).result, ["wave"]);
  bridge.close();
  await settle();
});

Deno.test("CommandBridge gives control back after its idle time, and the safety stop runs", async () => {
  const { bridge, link, gateway, ops } = setup(0.05);
  link.publish(pythonTable({ arm: ["wave"] }));
  const { later } = await call(bridge, "w");
  link.listener?.onCallback(link.calls[0].message.id, {
    object: "arm",
    method: "wave",
    ok: true,
    result: null,
  });
  await later;
  assert.deepEqual(ops, []);
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.equal(bridge.controls, false);
  assert.deepEqual(ops, ["safety_stop"], "releasing control runs the safety stop");
  const local = new FakeSocket();
  await gateway.accept(local.asWebSocket);
  assert.equal(local.closed, undefined, "a local client may take the free slot");
  bridge.close();
  await settle();
});

Deno.test("CommandBridge keeps control while a call is in flight", async () => {
  const { bridge, link } = setup(0.05);
  link.publish(pythonTable({ arm: ["wave"] }));
  const { later } = await call(bridge, "long");
  await new Promise((resolve) => setTimeout(resolve, 150));
  assert.ok(bridge.controls, "not released under a running call");
  answerFirstWave(link);
  await later;
  bridge.close();
  await settle();
});

Deno.test("CommandBridge refuses an id already in flight with DUPLICATE_ID", async () => {
  const { bridge, link } = setup();
  link.publish(pythonTable({ arm: ["wave"] }));
  const first = await call(bridge, "same");
  const second = await call(bridge, "same");
  assert.equal(second.reply.code, "DUPLICATE_ID");
  answerFirstWave(link);
  await first.later;
  bridge.close();
  await settle();
});

Deno.test("CommandBridge answers a lost call with an error callback when a local client takes over", async () => {
  const { bridge, gateway, link } = setup();
  link.publish(pythonTable({ arm: ["wave"] }));
  const { later } = await call(bridge, "lost");
  const local = new FakeSocket();
  await gateway.accept(local.asWebSocket, { takeover: true });
  const callback = await later;
  assert.equal(callback.status, "callback");
  assert.equal((callback.data as { error: { code: string } }).error.code, "BUSY");
  assert.equal(bridge.controls, false);
  bridge.close();
  await settle();
});

Deno.test("CommandBridge passes events to its listener once while it controls", async () => {
  const { bridge, link, events } = setup();
  link.publish(pythonTable({ arm: ["wave"] }));
  await bridge.request({ command: "status" }).reply;
  const { later } = await call(bridge, "e");
  link.listener?.onEvent("waving", { times: 2 });
  await settle();
  assert.deepEqual(events.map((e) => [e.event, e.data]), [["waving", { times: 2 }]]);
  answerFirstWave(link);
  await later;
  bridge.close();
  await settle();
});
