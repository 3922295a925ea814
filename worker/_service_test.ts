import assert from "node:assert/strict";
import { AgentError, ErrorCode } from "../errors.ts";
import type { ProjectMessage, WorkerOp } from "../ipc/mod.ts";
import { rawZip } from "../tests/_zip_craft.ts";
import { Harness, settle } from "./_test_utils.ts";

const encoder = new TextEncoder();

function pythonZip(source = "def hello():\n    return 1\n"): Uint8Array {
  return rawZip([{ name: "main.py", data: encoder.encode(source) }]);
}

Deno.test("WorkerService publishes the project table before the reply to start", async () => {
  await using harness = await Harness.create({ started: false });
  const reply = await harness.request("start", {});
  assert.deepEqual(harness.kinds(), ["project", "res"]);
  const [published] = harness.of("project");
  assert.deepEqual(published.project, {
    type: "python",
    version: 0,
    objects: { arm: ["wave", "slow", "big"] },
  });
  assert.equal(reply.ok, true);
  assert.equal(reply.message, "Project started");
  assert.deepEqual(reply.data, {
    type: "python",
    version: 0,
    entry: "main.py",
    files: 0,
    bytes: 0,
    objects: { arm: ["wave", "slow", "big"] },
    pid: harness.executor.pid,
  });
});

Deno.test("WorkerService starts the current project at boot and publishes it before ready", async () => {
  await using harness = await Harness.create();
  assert.equal(harness.starts.length, 1);
  assert.deepEqual(harness.kinds(), ["project"]);
  assert.equal(harness.of("project")[0].project?.version, 0);
});

Deno.test("WorkerService publishes null before the reply to an update, and stops the project", async () => {
  await using harness = await Harness.create();
  const running = harness.executor;
  const from = harness.sent.length;
  const reply = await harness.request("update", {}, pythonZip());
  assert.equal(reply.ok, true, reply.message);
  assert.deepEqual(harness.kinds(from), ["project", "res"]);
  assert.equal((harness.sent[from].message as ProjectMessage).project, null);
  assert.equal(running.running, false);
  assert.equal(reply.message, "Project updated: python project, version 1");
  // Nothing runs now: a call is refused, and the next start runs the new version.
  assert.equal(
    (await harness.call(1, { object: "arm", method: "wave" })).data.error?.code,
    "NOT_STARTED",
  );
  const started = await harness.request("start", {});
  assert.equal(started.ok && started.data.version, 1);
  assert.equal(harness.of("project").at(-1)?.project?.version, 1);
});

Deno.test("WorkerService passes the project's events on", async () => {
  await using harness = await Harness.create();
  harness.executor.emit("note", { n: 1 });
  assert.deepEqual(harness.of("event"), [{ t: "event", event: "note", data: { n: 1 } }]);
});

Deno.test("WorkerService publishes null and replies with the code when a start fails", async () => {
  await using harness = await Harness.create();
  harness.startError = new AgentError(ErrorCode.START_FAILED, "Cannot start Python project: boom");
  const from = harness.sent.length;
  const reply = await harness.request("start", {});
  assert.deepEqual(harness.kinds(from), ["project", "res"]);
  assert.equal(harness.of("project").at(-1)?.project, null);
  assert.equal(reply.ok, false);
  assert.equal(!reply.ok && reply.code, "START_FAILED");
  const status = await harness.request("status", {});
  assert.equal(status.ok && status.data.project.state, "failed");
});

Deno.test("WorkerService replies once to every request, INTERNAL when a handler throws", async () => {
  await using harness = await Harness.create();
  harness.startError = new Error("an unexpected bug");
  const failed = await harness.request("start", {});
  assert.equal(!failed.ok && failed.code, "INTERNAL");
  assert.equal(failed.message, "an unexpected bug");
  const unknown = await harness.request("bogus" as WorkerOp, {} as never);
  assert.equal(!unknown.ok && unknown.code, "UNKNOWN_COMMAND");
  const refused = await harness.request("upload_chunk", { upload_id: "nope", offset: 0 });
  assert.equal(!refused.ok && refused.code, "UPLOAD_ERROR");
  // Disposing the harness checks that each got exactly one reply.
});

Deno.test("WorkerService.safety_stop gives the executor the configured on_disconnect calls", async () => {
  await using harness = await Harness.create();
  const reply = await harness.request("safety_stop", { reason: "client disconnected" });
  assert.equal(reply.ok, true);
  assert.deepEqual(reply.ok && reply.data, { ran: [{ signal: "SIGTERM" }] });
  assert.deepEqual(harness.executor.safetyCalls, [[
    { object: "sport_client", method: "StopMove", args: {} },
  ]]);
});

Deno.test("WorkerService reports status: the project, its process and the call counts", async () => {
  await using harness = await Harness.create();
  await harness.call(1, { object: "arm", method: "wave" });
  // The worker leaves names to the gateway and the host: this one reaches the executor.
  await harness.call(2, { object: "arm", method: "missing" });
  const slow = harness.call(3, { object: "arm", method: "slow" });
  await settle();
  const status = await harness.request("status", {});
  assert.ok(status.ok);
  assert.deepEqual(status.data.project, {
    type: "python",
    version: 0,
    state: "running",
    pid: harness.executor.pid,
    last_exit: null,
    python: "3.8.0",
    abandoned_calls: 0,
  });
  assert.deepEqual(status.data.calls, { accepted: 3, completed: 2, failed: 0, in_flight: 1 });
  harness.service.handle({ t: "cancel", id: 3 }, undefined);
  await slow;
});

Deno.test("WorkerService rolls back to the previous version and publishes its table first", async () => {
  await using harness = await Harness.create();
  assert.equal((await harness.request("update", {}, pythonZip())).ok, true);
  assert.equal((await harness.request("start", {})).ok, true);
  const from = harness.sent.length;
  const reply = await harness.request("rollback", {});
  assert.ok(reply.ok, reply.message);
  assert.match(reply.message, /^Rolled back from version 1 to version 0: /);
  assert.equal(reply.data.rolled_back_from, 1);
  assert.deepEqual(harness.kinds(from), ["project", "project", "res"]);
  assert.equal(harness.of("project").at(-1)?.project?.version, 0);
  const again = await harness.request("rollback", {});
  assert.equal(!again.ok && again.code, "NO_PREVIOUS_VERSION");
});
