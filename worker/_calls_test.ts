import assert from "node:assert/strict";
import { AgentError, ErrorCode } from "../errors.ts";
import { rawZip } from "../tests/_zip_craft.ts";
import { Harness, settle } from "./_test_utils.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

Deno.test("WorkerService answers a call while no project is started with a NOT_STARTED callback", async () => {
  await using harness = await Harness.create({ started: false });
  const { data } = await harness.call(5, { object: "arm", method: "wave" });
  assert.equal(data.ok, false);
  assert.equal(data.error?.code, "NOT_STARTED");
  assert.equal(data.error?.message, "Cannot call method: no project is started; send start first");
  assert.deepEqual(harness.kinds(), ["cb"]);
});

Deno.test("WorkerService runs calls on the executor, long args and results as raw JSON bytes", async () => {
  await using harness = await Harness.create();
  const plain = await harness.call(1, { object: "arm", method: "wave", args: { times: 2 } });
  assert.deepEqual(plain.data, {
    object: "arm",
    method: "wave",
    ok: true,
    result: { pid: harness.executor.pid, args: { times: 2 } },
  });
  assert.equal(plain.body, undefined);

  const argsJson = encoder.encode(JSON.stringify({ times: 3 }));
  const long = await harness.call(2, { object: "arm", method: "wave" }, argsJson);
  assert.equal(
    harness.executor.received[1].request.args,
    argsJson,
    "args bytes passed as they are",
  );
  assert.deepEqual(harness.executor.received[1].options, { rawResult: true });
  assert.deepEqual((long.data.result as { args: unknown }).args, { times: 3 });

  const big = await harness.call(3, { object: "arm", method: "big" });
  assert.deepEqual(big.data, { object: "arm", method: "big", ok: true });
  assert.equal(decoder.decode(big.body), "[1,2,3]");
  assert.equal(harness.of("res").length, 0, "calls get no reply, only a callback");
});

Deno.test("WorkerService forwards cancel to the executor and ignores an unknown id", async () => {
  await using harness = await Harness.create();
  const slow = harness.call(9, { object: "arm", method: "slow" });
  await settle();
  const before = harness.sent.length;
  harness.service.handle({ t: "cancel", id: 12345 }, undefined);
  assert.equal(harness.sent.length, before, "an unknown id sends nothing");
  harness.service.handle({ t: "cancel", id: 9 }, undefined);
  const { data } = await slow;
  assert.equal(data.error?.code, "CANCELLED");
});

Deno.test("WorkerService holds calls sent during a start and runs them on the project it started", async () => {
  await using harness = await Harness.create({ started: false });
  const gate = Promise.withResolvers<void>();
  harness.startGate = gate.promise;
  const started = harness.request("start", {});
  const call = harness.call(1, { object: "arm", method: "wave" });
  const cancelled = harness.call(2, { object: "arm", method: "wave" });
  harness.service.handle({ t: "cancel", id: 2 }, undefined);
  assert.equal((await cancelled).data.error?.code, "CANCELLED");
  await settle();
  assert.equal(harness.of("cb").length, 1, "the held call waits for the start");
  gate.resolve();
  assert.equal((await started).ok, true);
  const { data } = await call;
  assert.equal(data.ok, true);
  assert.equal((data.result as { pid: number }).pid, harness.executor.pid);
  assert.equal(harness.executor.received.length, 1, "the cancelled call never ran");
});

Deno.test("WorkerService restarts an exited Python project once for several waiting calls", async () => {
  await using harness = await Harness.create();
  const first = harness.executor;
  first.exit({ code: 1, signal: null });
  const exitEvent = harness.of("event").find((m) => m.event === "project_exited");
  assert.deepEqual(exitEvent?.data, { type: "python", version: 0, code: 1, signal: null });
  const status = await harness.request("status", {});
  assert.equal(status.ok && status.data.project.state, "exited");

  const calls = [1, 2, 3].map((id) => harness.call(id, { object: "arm", method: "wave" }));
  const outcomes = await Promise.all(calls);
  assert.equal(harness.starts.length, 2, "one restart for three calls");
  const revived = harness.executor;
  assert.notEqual(revived, first);
  for (const { data } of outcomes) {
    assert.equal(data.ok, true);
    assert.equal((data.result as { pid: number }).pid, revived.pid);
  }
});

Deno.test("WorkerService has calls that arrive while the restart runs share it, not NOT_STARTED", async () => {
  await using harness = await Harness.create();
  harness.executor.exit({ code: 1, signal: null });
  const gate = Promise.withResolvers<void>();
  harness.startGate = gate.promise;
  const first = harness.call(1, { object: "arm", method: "wave" });
  // The restart is under way (stopping the exited process, starting the new one) when the
  // others arrive.
  await settle();
  assert.equal(harness.starts.length, 2, "the restart has begun");
  const later = [2, 3, 4, 5].map((id) => harness.call(id, { object: "arm", method: "wave" }));
  await settle();
  gate.resolve();
  const outcomes = await Promise.all([first, ...later]);
  assert.equal(harness.starts.length, 2, "one restart for five calls");
  for (const { data } of outcomes) assert.equal(data.ok, true, data.error?.message);
});

Deno.test("WorkerService answers calls waiting for a failed restart with EXECUTOR_EXITED", async () => {
  await using harness = await Harness.create();
  harness.executor.exit({ code: 1, signal: null });
  harness.startError = new AgentError(ErrorCode.START_FAILED, "Cannot start Python project: boom");
  const outcomes = await Promise.all(
    [1, 2].map((id) => harness.call(id, { object: "arm", method: "wave" })),
  );
  assert.equal(harness.starts.length, 2);
  for (const { data } of outcomes) {
    assert.equal(data.error?.code, "EXECUTOR_EXITED");
    assert.match(
      data.error?.message ?? "",
      /could not be restarted: Cannot start Python project: boom/,
    );
  }
  assert.equal(harness.of("project").at(-1)?.project, null, "nothing runs now");
});

Deno.test("WorkerService answers calls to a C++ project with NOT_SUPPORTED, running or exited", async () => {
  await using harness = await Harness.create({ started: false, fake: false });
  const zip = rawZip([
    { name: "sleep", data: await Deno.readFile("/bin/sleep"), mode: 0o755 },
    {
      name: "robot-agent.json",
      data: encoder.encode(JSON.stringify({ type: "cpp", entry: "sleep", args: ["30"] })),
    },
  ]);
  assert.equal((await harness.request("update", {}, zip)).ok, true);
  const started = await harness.request("start", {});
  assert.ok(started.ok, started.message);
  assert.equal(started.data.type, "cpp");
  assert.equal("objects" in started.data, false, "a C++ project lists no objects");
  assert.deepEqual(harness.of("project").at(-1)?.project, { type: "cpp", version: 1, objects: {} });

  const running = await harness.call(1, { object: "x", method: "y" });
  assert.equal(running.data.error?.code, "NOT_SUPPORTED");
  const exited = harness.waitFor((m) => m.t === "event" && m.event === "project_exited");
  const stop = await harness.request("safety_stop", { reason: "test" });
  assert.deepEqual(stop.ok && stop.data, { ran: [{ signal: "SIGTERM" }] });
  await exited;
  const after = await harness.call(2, { object: "x", method: "y" });
  assert.equal(after.data.error?.code, "NOT_SUPPORTED");
});
