import assert from "node:assert/strict";
import { FakeLink, FakeSocket, pythonTable, settle } from "../tests/_fakes.ts";
import { ErrorCode } from "../errors.ts";
import { failedOutcome } from "../ipc/mod.ts";
import { type CallRoute, CallRouter } from "./_calls.ts";
import { ANONYMOUS_OPERATOR, Connection } from "./_clients.ts";
import type { ServerMessage } from "./_replies.ts";

/** The ACK or refusal `process` handed back (it does when the request has no `reply`). */
function answered(message: ServerMessage | undefined): ServerMessage {
  assert.ok(message, "process sent its answer instead of handing it back");
  return message;
}

function setup() {
  const link = new FakeLink();
  const delivered: { route: CallRoute; message: ServerMessage }[] = [];
  const router = new CallRouter({
    link,
    deliver: (route, message) => delivered.push({ route, message }),
  });
  const origin = new Connection(new FakeSocket().asWebSocket, { identity: ANONYMOUS_OPERATOR });
  const call = async (clientId: number, object: string, method: string, args = {}) =>
    answered(await router.process({ origin, clientId, object, method, args, size: 60 }));
  return { link, router, origin, delivered, call };
}

Deno.test("CallRouter ACKs a call to a published method and routes its callback back", async () => {
  const { link, router, delivered, call } = setup();
  router.setTable(pythonTable({ sport_client: ["StandUp"] }));
  const ack = await call(7, "sport_client", "StandUp");
  assert.equal(ack.status, "success");
  assert.equal(ack.id, 7);
  assert.equal(link.calls.length, 1);
  const { message } = link.calls[0];
  assert.deepEqual(message, {
    t: "call",
    id: message.id,
    object: "sport_client",
    method: "StandUp",
    args: {},
  });
  router.complete(message.id, { object: "sport_client", method: "StandUp", ok: true, result: 1 });
  assert.equal(delivered.length, 1);
  assert.deepEqual(delivered[0].message, {
    status: "callback",
    id: 7,
    data: { object: "sport_client", method: "StandUp", ok: true, result: 1 },
  });
  assert.equal(router.inFlight, 0);
});

Deno.test("CallRouter refuses calls it can judge, with the stable codes, and sends nothing", async () => {
  const { link, router, call } = setup();
  router.setTable(null);
  assert.equal((await call(1, "a", "b")).code, ErrorCode.NOT_STARTED);
  router.setTable({ type: "cpp", version: 2, objects: {} });
  assert.equal((await call(2, "a", "b")).code, ErrorCode.NOT_SUPPORTED);
  router.setTable(pythonTable({ tele: ["go"] }));
  const unknown = await call(3, "arm", "go");
  assert.equal(unknown.code, ErrorCode.UNKNOWN_OBJECT);
  assert.match(unknown.message!, /no object "arm" \(objects: tele\)/);
  assert.equal((await call(4, "tele", "fly")).code, ErrorCode.UNKNOWN_METHOD);
  assert.equal((await call(5, "toString", "call")).code, ErrorCode.UNKNOWN_OBJECT);
  assert.equal(link.calls.length, 0);
});

Deno.test("CallRouter holds calls behind a project change and judges them against its table", async () => {
  const { link, router, call } = setup();
  router.setTable(pythonTable({ old: ["run"] }));
  // update, start, process in one burst: the process waits for the start.
  const update = router.hold();
  const start = router.hold();
  const early = call(1, "arm", "wave");
  let answered: ServerMessage | undefined;
  Promise.resolve(early).then((reply) => (answered = reply));
  await settle();
  assert.equal(answered, undefined);
  router.setTable(null);
  update();
  await settle();
  assert.equal(answered, undefined, "still behind the start");
  router.setTable(pythonTable({ arm: ["wave"] }));
  start();
  assert.equal((await early).status, "success");
  assert.equal(link.calls[0].message.object, "arm");
});

Deno.test("CallRouter answers a call sent after an update but before a start NOT_STARTED", async () => {
  const { router, call } = setup();
  router.setTable(pythonTable({ arm: ["wave"] }));
  const update = router.hold();
  const between = call(1, "arm", "wave");
  router.setTable(null);
  update();
  assert.equal((await between).code, ErrorCode.NOT_STARTED);
});

Deno.test("CallRouter keeps held calls in order and does not hold calls sent before a change", async () => {
  const { link, router, call } = setup();
  router.setTable(pythonTable({ a: ["m"] }));
  const first = call(1, "a", "m");
  const release = router.hold();
  const second = call(2, "a", "m");
  const third = call(3, "a", "m");
  assert.equal((await first).status, "success");
  release();
  assert.deepEqual([(await second).id, (await third).id], [2, 3]);
  assert.deepEqual(link.calls.map((c) => c.message.id), [1, 2, 3]);
});

Deno.test("CallRouter holds calls while the worker restarts and refuses them once it crashed", async () => {
  const { link, router, call } = setup();
  link.state = "restarting";
  router.setTable(undefined);
  const held = call(1, "a", "m");
  let answered = false;
  Promise.resolve(held).then(() => (answered = true));
  await settle();
  assert.equal(answered, false);
  link.state = "running";
  router.setTable(pythonTable({ a: ["m"] }));
  assert.equal((await held).status, "success");

  link.state = "restarting";
  router.setTable(undefined);
  const refused = call(2, "a", "m");
  link.state = "crashed";
  router.stateChanged();
  const reply = await refused;
  assert.equal(reply.code, ErrorCode.WORKER_UNAVAILABLE);
  assert.match(reply.message!, /crashed repeatedly/);
});

Deno.test("CallRouter cancels a held call at once and asks the worker for one in flight", async () => {
  const { link, router, origin, call } = setup();
  router.setTable(pythonTable({ a: ["m"] }));
  await call(1, "a", "m");
  assert.equal(router.cancel(origin, 1), true);
  assert.deepEqual(link.cancels, [link.calls[0].message.id]);
  const release = router.hold();
  const held = call(2, "a", "m");
  assert.equal(router.cancel(origin, 2), true);
  assert.equal((await held).code, ErrorCode.CANCELLED);
  release();
  assert.equal(router.cancel(origin, 99), false);
  const stranger = new Connection(new FakeSocket().asWebSocket, { identity: ANONYMOUS_OPERATOR });
  assert.equal(router.cancel(stranger, 1), false, "another connection's id is not this one's");
});

Deno.test("CallRouter fails every call in flight when the worker exits", async () => {
  const { router, delivered, call } = setup();
  router.setTable(pythonTable({ a: ["m"] }));
  await call(1, "a", "m");
  await call(2, "a", "m");
  router.failInFlight(ErrorCode.WORKER_EXITED, "Call failed: the worker exited (signal SIGKILL)");
  assert.deepEqual(
    delivered.map((
      d,
    ) => [d.message.id, (d.message.data as { error: { code: string } }).error.code]),
    [
      [1, "WORKER_EXITED"],
      [2, "WORKER_EXITED"],
    ],
  );
  assert.equal(router.inFlight, 0);
});

Deno.test("CallRouter sends long args as bytes and refuses everything once closed", async () => {
  const { link, router, origin } = setup();
  router.setTable(pythonTable({ a: ["m"] }));
  const args = { points: Array.from({ length: 300 }, (_, i) => i) };
  await router.process({ origin, clientId: 1, object: "a", method: "m", args, size: 2000 });
  assert.equal(link.calls[0].message.args, undefined);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(link.calls[0].argsJson)), args);
  router.close(ErrorCode.SHUTTING_DOWN, "Call failed: the agent is shutting down");
  const late = answered(
    await router.process({
      origin,
      clientId: 2,
      object: "a",
      method: "m",
      args: {},
      size: 10,
    }),
  );
  assert.equal(late.code, ErrorCode.SHUTTING_DOWN);
  router.complete(12345, failedOutcome("a", "m", ErrorCode.INTERNAL, "X", "unknown id is ignored"));
});

Deno.test("CallRouter refuses arguments that do not fit the described method BAD_ARGS with a pointer", async () => {
  const { link, router, call } = setup();
  router.setTable({
    ...pythonTable({ sport_client: ["Move"] }),
    describe: {
      hash: "h",
      objects: {
        sport_client: {
          doc: null,
          class: false,
          methods: {
            Move: {
              params: [{
                name: "vx",
                kind: "positional_or_keyword",
                required: true,
                annotation: "float",
                schema: { type: "number" },
              }],
              returns: null,
              async: false,
              doc: null,
            },
          },
        },
      },
    },
  });
  const refused = await call(1, "sport_client", "Move", { vx: "fast" });
  assert.equal(refused.code, ErrorCode.BAD_ARGS);
  assert.match(refused.message!, /args\/vx: expected number, got string/);
  assert.deepEqual(refused.data, {
    object: "sport_client",
    method: "Move",
    pointer: "/params/args/vx",
  });
  assert.equal(link.calls.length, 0, "refused before it reached the worker");
  assert.equal((await call(2, "sport_client", "Move", { vx: 0.3 })).status, "success");
});
