import assert from "node:assert/strict";
import { validateConfig } from "../config.ts";
import { ErrorCode } from "../errors.ts";
import { FakeLink, FakeSocket, pythonTable, settle } from "../tests/_fakes.ts";
import type { RequestInfo } from "./_front_door.ts";
import { CLOSE_TAKEN_OVER } from "./_lease.ts";
import { CLOSE_BUSY, CLOSE_SHUTDOWN, WsGateway } from "./_server.ts";

async function setup() {
  const link = new FakeLink();
  const config = validateConfig({});
  const gateway = new WsGateway({ config, link, version: "0.0.0-test" });
  const socket = new FakeSocket();
  await gateway.accept(socket.asWebSocket);
  return { link, gateway, socket, config };
}

const NO_UPGRADE: RequestInfo = {
  remoteAddr: { hostname: "127.0.0.1", port: 40000 },
  upgrade() {
    throw new Error("this request must not be upgraded");
  },
};

Deno.test("WsGateway.handler answers plain HTTP without a socket", async () => {
  const { gateway } = await setup();
  const handle = gateway.handler();
  const home = await handle(new Request("http://127.0.0.1/ws"), NO_UPGRADE);
  assert.equal(home.status, 200);
  assert.match(await home.text(), /connect a WebSocket client/);
  const missing = await handle(new Request("http://127.0.0.1/nope"), NO_UPGRADE);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  const badSession = await handle(
    new Request("http://127.0.0.1/ws?session=", { headers: { upgrade: "websocket" } }),
    NO_UPGRADE,
  );
  assert.equal(badSession.status, 400);
  await badSession.body?.cancel();
  const rebound = await handle(
    new Request("http://evil.example:8000/ws", { headers: { upgrade: "websocket" } }),
    NO_UPGRADE,
  );
  assert.equal(rebound.status, 403);
  assert.equal((await rebound.json()).code, ErrorCode.FORBIDDEN);
});

Deno.test("WsGateway runs update, start and process sent in one burst in that order", async () => {
  const { link, socket } = await setup();
  link.publish(pythonTable({ tele: ["go"] }));
  socket.receiveJson({ command: "update", id: 1, data: "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==" });
  socket.receiveJson({ command: "start", id: 2 });
  socket.receiveJson({ command: "process", id: 3, params: { object: "arm", method: "wave" } });
  await settle();
  assert.equal(link.calls.length, 0, "the call waits for the start");
  link.publish(null);
  link.succeed("update", { type: "python", version: 2, entry: "main.py", files: 1, bytes: 9 });
  await settle();
  link.publish(pythonTable({ arm: ["wave"] }, 2));
  link.succeed("start", { type: "python", version: 2, entry: "main.py", files: 1, bytes: 9 });
  await settle();
  const replies = socket.messages().map((m) => [m.id, m.status, m.message]);
  assert.deepEqual(replies, [
    [1, "success", "update done"],
    [2, "success", "start done"],
    [3, "success", "Call accepted"],
  ]);
  assert.equal(link.calls[0].message.object, "arm");
});

Deno.test("WsGateway answers a throwing handler INTERNAL and keeps serving", async () => {
  const { link, socket } = await setup();
  link.request = () => {
    throw new Error("boom");
  };
  socket.receiveJson({ command: "status", id: "s" });
  await settle();
  const [failed] = socket.messages();
  assert.equal(failed.code, ErrorCode.INTERNAL);
  assert.equal(failed.id, "s");
  assert.match(failed.message, /boom/);
  link.publish(pythonTable({ a: ["m"] }));
  socket.receiveJson({ command: "process", id: 2, params: { object: "a", method: "m" } });
  await settle();
  assert.equal(socket.messages()[1].status, "success");
});

Deno.test("WsGateway refuses a second client BUSY and runs the safety stop when the first goes", async () => {
  const { link, gateway, socket } = await setup();
  const second = new FakeSocket();
  await gateway.accept(second.asWebSocket);
  assert.equal(second.messages()[0].code, ErrorCode.BUSY);
  assert.equal(second.closed?.code, CLOSE_BUSY);
  second.receiveJson({ command: "start", id: 1 });
  await settle();
  assert.equal(link.requests.length, 0, "a refused connection's messages are ignored");
  socket.close(1000);
  await settle();
  const stop = link.take("safety_stop");
  assert.match(String((stop.params as { reason: string }).reason), /client disconnected/);
});

Deno.test("WsGateway answers bad messages with their codes and the id", async () => {
  const { socket } = await setup();
  socket.receive("{");
  socket.receiveJson({ command: "fly", id: 5 });
  socket.receiveJson({ command: "cancel", id: 6, params: { call_id: 99 } });
  await settle();
  const codes = socket.messages().map((m) => [m.id, m.code]);
  assert.deepEqual(codes, [
    [undefined, ErrorCode.BAD_REQUEST],
    [5, ErrorCode.UNKNOWN_COMMAND],
    [6, ErrorCode.BAD_REQUEST],
  ]);
});

Deno.test("WsGateway sends a call's ACK before its callback, even when the worker exits at once", async () => {
  const { link, socket } = await setup();
  link.publish(pythonTable({ a: ["m"] }));
  // Direct: the worker's exit is handled in the same turn as the call, before any await.
  socket.receiveJson({ command: "process", id: 1, params: { object: "a", method: "m" } });
  link.listener?.onWorkerExit("SIGKILL", { hung: false });
  // Held: the call waits for the restarted worker, is sent when it is ready, and fails.
  link.setState("restarting");
  link.publish(undefined);
  socket.receiveJson({ command: "process", id: 2, params: { object: "a", method: "m" } });
  await settle();
  link.state = "running"; // the new worker is up; its table releases the held call
  link.publish(pythonTable({ a: ["m"] }));
  link.listener?.onWorkerExit("SIGKILL", { hung: false });
  await settle();
  const seen = socket.messages().map((m) => [m.id, m.status]);
  assert.deepEqual(seen, [[1, "success"], [1, "callback"], [2, "success"], [2, "callback"]]);
});

Deno.test("WsGateway.shutdown fails calls in flight and closes the client", async () => {
  const { link, gateway, socket } = await setup();
  link.autoReply.set("safety_stop", { ran: [] });
  link.publish(pythonTable({ a: ["m"] }));
  socket.receiveJson({ command: "process", id: 1, params: { object: "a", method: "m" } });
  await settle();
  await gateway.shutdown();
  const [ack, callback] = socket.messages();
  assert.equal(ack.status, "success");
  assert.equal(callback.data.error.code, ErrorCode.SHUTTING_DOWN);
  assert.equal(socket.closed?.code, CLOSE_SHUTDOWN);
});

Deno.test("WsGateway lets observers watch and refuses them FORBIDDEN for control commands", async () => {
  const { link, gateway, socket } = await setup();
  link.autoReply.set("status", { worker: { pid: 1 } });
  const watcher = new FakeSocket();
  await gateway.accept(watcher.asWebSocket, {
    identity: { name: "laptop", role: "observer" },
    observe: true,
  });
  watcher.receiveJson({ command: "start", id: 1 });
  watcher.receiveJson({ command: "process", id: 2, params: { object: "a", method: "m" } });
  watcher.receiveJson({ command: "status", id: 3 });
  await settle();
  const [start, call, status] = watcher.messages();
  assert.equal(start.code, ErrorCode.FORBIDDEN);
  assert.equal(call.code, ErrorCode.FORBIDDEN);
  assert.equal(status.status, "success");
  assert.deepEqual(
    status.data.gateway.connections.map((
      c: { identity: string; role: string },
    ) => [c.identity, c.role]),
    [["anonymous", "controller"], ["laptop", "observer"]],
  );
  link.listener?.onEvent("tick", { n: 1 });
  assert.equal(watcher.messages().at(-1)?.event, "tick");
  assert.equal(socket.messages().at(-1)?.event, "tick");
});

Deno.test("WsGateway hands control over on takeover after the safety stop, closing the old controller", async () => {
  const { link, gateway, socket } = await setup();
  const next = new FakeSocket();
  const taking = gateway.accept(next.asWebSocket, {
    identity: { name: "bob", role: "operator" },
    takeover: true,
  });
  await settle();
  const stop = link.take("safety_stop");
  assert.equal(socket.readyState, WebSocket.OPEN, "the old controller waits for the safety stop");
  stop.resolve({ t: "res", id: 0, ok: true, message: "Safety stop done", data: { ran: [] } });
  await taking;
  const closed = socket.closed as { code?: number; reason?: string } | undefined;
  assert.equal(closed?.code, CLOSE_TAKEN_OVER);
  assert.match(closed?.reason ?? "", /taken over by bob/);
  link.publish(pythonTable({ a: ["m"] }));
  next.receiveJson({ command: "process", id: 1, params: { object: "a", method: "m" } });
  await settle();
  assert.equal(next.messages()[0].status, "success");
});

Deno.test("WsGateway.openVirtual runs commands for a peer without a WebSocket", async () => {
  const link = new FakeLink();
  const gateway = new WsGateway({ config: validateConfig({}), link, version: "0.0.0-test" });
  const received: string[] = [];
  const closed: number[] = [];
  const virtual = await gateway.openVirtual({
    send: (text) => received.push(text),
    onClose: (code) => closed.push(code),
  }, { identity: { name: "fleet", role: "operator" } });
  link.publish(pythonTable({ a: ["m"] }));
  virtual.receive(
    JSON.stringify({ command: "process", id: 1, params: { object: "a", method: "m" } }),
  );
  await settle();
  assert.equal(JSON.parse(received[0]).message, "Call accepted");
  const local = new FakeSocket();
  await gateway.accept(local.asWebSocket);
  assert.equal(local.messages()[0].code, ErrorCode.BUSY, "the fleet holds the lease like a client");
  virtual.close();
  await settle();
  assert.ok(link.requests.some((r) => r.op === "safety_stop"));
});
