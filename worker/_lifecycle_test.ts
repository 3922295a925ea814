import assert from "node:assert/strict";
import { AgentError, ErrorCode } from "../errors.ts";
import type { RolledBack, VersionInfo, VersionStatus } from "../ipc/mod.ts";
import { rawZip } from "../tests/_zip_craft.ts";
import { Harness, type Harness as HarnessType, settle } from "./_test_utils.ts";

const encoder = new TextEncoder();

function pythonZip(tag: string): Uint8Array {
  return rawZip([{ name: "main.py", data: encoder.encode(`TAG = ${JSON.stringify(tag)}\n`) }]);
}

function moduleNotFound(): AgentError {
  return new AgentError(
    ErrorCode.START_FAILED,
    "Cannot start Python project: ModuleNotFoundError: No module named 'numpyy' (main.py:2)",
    {
      data: {
        type: "ModuleNotFoundError",
        message: "No module named 'numpyy'",
        traceback: 'Traceback (most recent call last):\n  File "main.py", line 2\n',
        file: "main.py",
        line: 2,
      },
    },
  );
}

async function versions(harness: HarnessType): Promise<Map<number, VersionInfo>> {
  const reply = await harness.request("versions", {});
  assert.ok(reply.ok, reply.message);
  return new Map(reply.data.versions.map((info) => [info.version, info]));
}

/** Polls the `versions` op until `version` has `status` (a probation is a timer). */
async function waitForStatus(harness: HarnessType, version: number, status: VersionStatus) {
  for (let i = 0; i < 500; i++) {
    if ((await versions(harness)).get(version)?.status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`version ${version} never became ${status}`);
}

/** Deploys and starts a version and waits for it to pass its probation. */
async function deployGood(harness: HarnessType, tag: string): Promise<number> {
  const updated = await harness.request("update", {}, pythonZip(tag));
  assert.ok(updated.ok, updated.message);
  assert.ok((await harness.request("start", {})).ok);
  await waitForStatus(harness, updated.data.version, "good");
  return updated.data.version;
}

async function deployFailing(harness: HarnessType, tag: string): Promise<void> {
  assert.ok((await harness.request("update", {}, pythonZip(tag))).ok);
  harness.nextStartErrors.push(moduleNotFound());
  const started = await harness.request("start", {});
  assert.equal(!started.ok && started.code, "START_FAILED");
}

Deno.test("VersionLifecycle makes a started version good after its probation, across restarts", async () => {
  await using harness = await Harness.create({ config: { lifecycle: { probation_s: 0.05 } } });
  const zip = pythonZip("one");
  // Before the update: the worker frees the zip's buffer once it is on disk.
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", zip as Uint8Array<ArrayBuffer>),
  );
  assert.ok((await harness.request("update", {}, zip)).ok);
  const deployed = (await versions(harness)).get(1);
  assert.equal(deployed?.sha256, digest.toHex());
  assert.equal(deployed?.status, "candidate");
  assert.equal(deployed?.type, "python");
  assert.ok(deployed?.deployed_at);
  assert.ok((await harness.request("start", {})).ok);
  await waitForStatus(harness, 1, "good");
  await harness.restart();
  const after = await versions(harness);
  assert.equal(after.get(1)?.status, "good", "the status survives a new worker");
  assert.equal(after.get(1)?.sha256, digest.toHex());
  assert.equal(after.get(0)?.status, "good", "the built-in project counts as good");
});

Deno.test("VersionLifecycle rollback goes to the newest good version and names those passed over", async () => {
  await using harness = await Harness.create({
    config: { lifecycle: { probation_s: 0.05, auto_rollback: false } },
  });
  assert.equal(await deployGood(harness, "good"), 1);
  await deployFailing(harness, "broken-2");
  await deployFailing(harness, "broken-3");
  const listed = await versions(harness);
  assert.equal(listed.get(3)?.status, "failed");
  assert.match(listed.get(3)?.reason ?? "", /ModuleNotFoundError: No module named 'numpyy'/);
  const reply = await harness.request("rollback", {});
  assert.ok(reply.ok, reply.message);
  assert.equal(reply.data.version, 1);
  assert.equal(reply.data.rolled_back_from, 3);
  assert.deepEqual(reply.data.skipped.map((s) => [s.version, s.status]), [[2, "failed"]]);
  assert.match(reply.message, /from version 3 to version 1: the newest good version before 3/);
  assert.equal(harness.of("project").at(-1)?.project?.version, 1);
});

Deno.test("VersionLifecycle answers a failed start with its data and starts the last good version", async () => {
  await using harness = await Harness.create({ config: { lifecycle: { probation_s: 0.05 } } });
  await deployGood(harness, "good");
  assert.ok((await harness.request("update", {}, pythonZip("broken"))).ok);
  harness.nextStartErrors.push(moduleNotFound());
  const starts = harness.starts.length;
  const reply = await harness.request("start", {});
  assert.equal(reply.ok, false);
  assert.ok(!reply.ok);
  assert.equal(reply.code, "START_FAILED");
  assert.match(reply.message, /ModuleNotFoundError.*; rolled back to version 1$/);
  const rolled: RolledBack = {
    from: 2,
    to: 1,
    reason: `failed to start: ${moduleNotFound().message}`,
  };
  assert.deepEqual(reply.data, {
    type: "ModuleNotFoundError",
    message: "No module named 'numpyy'",
    traceback: 'Traceback (most recent call last):\n  File "main.py", line 2\n',
    file: "main.py",
    line: 2,
    rolled_back: rolled,
  });
  assert.deepEqual(
    harness.of("event").filter((m) => m.event === "rolled_back").map((m) => m.data),
    [
      rolled,
    ],
  );
  assert.equal(harness.starts.length, starts + 2, "the failed start, then the good version");
  assert.equal(harness.of("project").at(-1)?.project?.version, 1);
  const status = await harness.request("status", {});
  assert.equal(status.ok && status.data.project.version, 1);
  assert.equal(status.ok && status.data.project.state, "running");
  assert.equal((await versions(harness)).get(2)?.status, "failed");
});

Deno.test("VersionLifecycle replaces a version that crashes in probation with the last good one", async () => {
  await using harness = await Harness.create({ config: { lifecycle: { probation_s: 0.3 } } });
  await deployGood(harness, "good");
  assert.ok((await harness.request("update", {}, pythonZip("crashes"))).ok);
  assert.ok((await harness.request("start", {})).ok);
  const rolled = harness.waitFor((m) => m.t === "event" && m.event === "rolled_back");
  harness.executor.exit({ code: 1, signal: null });
  const call = harness.call(1, { object: "arm", method: "wave" });
  const event = await rolled;
  assert.equal(event.t === "event" && (event.data as RolledBack).to, 1);
  assert.match(
    (event as { data: RolledBack }).data.reason,
    /crashed during probation.*exit code 1/,
  );
  const { data } = await call;
  assert.equal(data.ok, true, "a call sent after the crash runs on the good version");
  assert.equal(harness.starts.at(-1)?.version, 1);
  const listed = await versions(harness);
  assert.equal(listed.get(2)?.status, "failed");
  const status = await harness.request("status", {});
  assert.equal(status.ok && status.data.project.version, 1);
});

Deno.test("VersionLifecycle leaves a good version good when it crashes after its probation", async () => {
  await using harness = await Harness.create({ config: { lifecycle: { probation_s: 0.05 } } });
  await deployGood(harness, "good");
  const crashed = harness.executor;
  crashed.exit({ code: 1, signal: null });
  await settle();
  assert.equal(harness.of("event").some((m) => m.event === "rolled_back"), false);
  assert.equal((await versions(harness)).get(1)?.status, "good");
  const { data } = await harness.call(1, { object: "arm", method: "wave" });
  assert.equal(data.ok, true, "the next call restarts it");
  assert.notEqual(harness.executor, crashed);
});

Deno.test("VersionLifecycle keeps the newest good version however many versions follow it", async () => {
  await using harness = await Harness.create({
    config: { lifecycle: { probation_s: 0.05 }, storage: { keep_versions: 1 } },
  });
  await deployGood(harness, "good");
  for (const tag of ["a", "b", "c"]) {
    assert.ok((await harness.request("update", {}, pythonZip(tag))).ok);
  }
  assert.deepEqual([...(await versions(harness)).keys()], [4, 1, 0]);
  const back = await harness.request("rollback", {});
  assert.ok(back.ok, back.message);
  assert.equal(back.data.version, 1);
});

Deno.test("VersionLifecycle activates a kept version and refuses one that is not kept", async () => {
  await using harness = await Harness.create({ config: { lifecycle: { probation_s: 3600 } } });
  assert.ok((await harness.request("update", {}, pythonZip("one"))).ok);
  assert.ok((await harness.request("update", {}, pythonZip("two"))).ok);
  const reply = await harness.request("activate", { version: 1 });
  assert.ok(reply.ok, reply.message);
  assert.equal(reply.data.version, 1);
  assert.equal(reply.data.activated_from, 2);
  assert.equal(harness.of("project").at(-1)?.project?.version, 1);
  const listing = await harness.request("versions", {});
  assert.equal(listing.ok && listing.data.current, 1);
  const missing = await harness.request("activate", { version: 7 });
  assert.equal(!missing.ok && missing.code, "UNKNOWN_VERSION");
  const bad = await harness.request("activate", { version: "one" as unknown as number });
  assert.equal(!bad.ok && bad.code, "BAD_REQUEST");
  const builtIn = await harness.request("activate", { version: 0 });
  assert.equal(builtIn.ok && builtIn.data.version, 0);
});

Deno.test("WorkerService status reports last_exit only of the current version's process", async () => {
  await using harness = await Harness.create();
  harness.executor.exit({ code: 3, signal: null });
  const exited = await harness.request("status", {});
  assert.deepEqual(exited.ok && exited.data.project.last_exit, { code: 3, signal: null });
  assert.ok((await harness.request("update", {}, pythonZip("next"))).ok);
  const next = await harness.request("status", {});
  assert.equal(next.ok && next.data.project.version, 1);
  assert.equal(next.ok && next.data.project.last_exit, null);
});
