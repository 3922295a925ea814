import assert from "node:assert/strict";
import { validateConfig } from "../config.ts";
import { ErrorCode } from "../errors.ts";
import { FakeLink, FakeSocket, pythonTable, settle } from "../tests/_fakes.ts";
import { CLOSE_BUSY, CLOSE_SHUTDOWN, WsGateway } from "./_server.ts";

function setup() {
  const link = new FakeLink();
  const config = validateConfig({});
  const gateway = new WsGateway({ config, link, version: "0.0.0-test" });
  const socket = new FakeSocket();
  gateway.accept(socket.asWebSocket);
  return { link, gateway, socket, config };
}

Deno.test("WsGateway.handler answers plain HTTP without a socket", async () => {
  const { gateway } = setup();
  const handle = gateway.handler();
  const home = handle(new Request("http://127.0.0.1/"));
  assert.equal(home.status, 200);
  assert.match(await home.text(), /connect a WebSocket client/);
  const missing = handle(new Request("http://127.0.0.1/nope"));
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  const badSession = handle(
    new Request("http://127.0.0.1/ws?session=", { headers: { upgrade: "websocket" } }),
  );
  assert.equal(badSession.status, 400);
  await badSession.body?.cancel();
});

Deno.test("WsGateway runs update, start and process sent in one burst in that order", async () => {
  const { link, socket } = setup();
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
  const { link, socket } = setup();
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
  const { link, gateway, socket } = setup();
  const second = new FakeSocket();
  gateway.accept(second.asWebSocket);
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
  const { socket } = setup();
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

Deno.test("WsGateway.shutdown fails calls in flight and closes the client", async () => {
  const { link, gateway, socket } = setup();
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
