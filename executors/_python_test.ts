import assert from "node:assert/strict";
import { join } from "node:path";
import { AgentError } from "../errors.ts";
import type { ExitInfo } from "./_child.ts";
import { PythonExecutor } from "./_python.ts";
import { installRuntime } from "./_runtime.ts";
import { TEST_PYTHON, testSandbox } from "./_test_utils.ts";

const HARD_GRACE_S = 0.5;
/** Bounds every wait, so a broken kill fails the test instead of hanging it. */
const WAIT_MS = 10_000;

const PROJECT = `
import os
import time


class Robot:
    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds

    def spin(self, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            pass
        return "finished"

    def fast(self):
        return "fast"

    def _private(self):
        return "private"

    def echo(self, **kwargs):
        return kwargs

    def cloud(self, points):
        return [float(i) for i in range(points)]

    def announce(self, size):
        push_message("note", {"size": size, "pad": "x" * size})
        return size

    def die(self):
        os._exit(3)

    def stop(self):
        return None


stopped = []


def stop():
    stopped.append(True)
`;

/** A running test project; `await using` stops it and removes its folder. */
interface Started extends AsyncDisposable {
  executor: PythonExecutor;
  exited: Promise<ExitInfo>;
  events: { event: string; data: unknown; dataJson?: string }[];
  dir: string;
}

async function startProject(source = PROJECT): Promise<Started> {
  const dir = await Deno.makeTempDir({ prefix: "python-executor-" });
  const exit = Promise.withResolvers<ExitInfo>();
  const events: Started["events"] = [];
  try {
    const runtime = await installRuntime(join(dir, "runtime"));
    await Deno.mkdir(join(dir, "project"));
    await Deno.writeTextFile(join(dir, "project", "main.py"), source);
    const executor = await PythonExecutor.start({
      runtime,
      root: join(dir, "project"),
      socketPath: join(dir, "project.sock"),
      command: "python3",
      python: TEST_PYTHON,
      sandbox: testSandbox(dir, [runtime.hostPath, join(dir, "project")]),
      threads: 4,
      callTimeoutS: 0.3,
      hardGraceS: HARD_GRACE_S,
      startTimeoutS: 10,
      maxFrameBytes: 1 << 20,
      onEvent(event, data, dataJson) {
        events.push({ event, data, dataJson: dataJson && new TextDecoder().decode(dataJson) });
      },
      onExit: exit.resolve,
    });
    const started: Started = {
      executor,
      exited: exit.promise,
      events,
      dir,
      [Symbol.asyncDispose]: () => stopProject(started),
    };
    return started;
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

async function stopProject({ executor, dir }: Started): Promise<void> {
  try {
    await executor.stop();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `promise`, or a rejection naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("PythonExecutor.start loads the project and reports its objects and interpreter", async () => {
  await using started = await startProject();
  const { executor } = started;
  assert.equal(executor.type, "python");
  assert.equal(executor.running, true);
  assert.equal(executor.revivable, true);
  assert.ok(executor.pid > 0);
  assert.ok(executor.objects.get("Robot")?.has("fast"));
  assert.equal(executor.objects.get("Robot")?.has("_private"), false);
  const status = executor.status();
  assert.match(status.python ?? "", /^3\.\d+\.\d+$/);
  assert.deepEqual({ ...status, python: null }, {
    python: null,
    abandoned_calls: 0,
    in_flight: 0,
  });
});

Deno.test("PythonExecutor.call resolves with the method's result, args as an object or JSON bytes", async () => {
  await using started = await startProject();
  const { executor } = started;
  assert.deepEqual(await executor.call(1, { object: "Robot", method: "fast", args: {} }), {
    object: "Robot",
    method: "fast",
    ok: true,
    result: "fast",
  });
  const json = new TextEncoder().encode(JSON.stringify({ a: 1, b: "x".repeat(2000) }));
  const echoed = await executor.call(2, { object: "Robot", method: "echo", args: json });
  assert.deepEqual(echoed.result, { a: 1, b: "x".repeat(2000) });
});

Deno.test("PythonExecutor.call keeps a long result as the host's JSON text with rawResult", async () => {
  await using started = await startProject();
  const { executor } = started;
  const request = { object: "Robot", method: "cloud", args: { points: 1000 } };
  const raw = await executor.call(1, request, { rawResult: true });
  assert.equal(raw.result, undefined);
  assert.ok(raw.resultJson instanceof Uint8Array);
  const expected = Array.from({ length: 1000 }, (_, i) => i);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(raw.resultJson)), expected);
  const parsed = await executor.call(2, request);
  assert.equal(parsed.resultJson, undefined);
  assert.deepEqual(parsed.result, expected);
});

Deno.test("PythonExecutor passes push_message events on, long data as the host's JSON", async () => {
  await using started = await startProject();
  const { executor, events } = started;
  await executor.call(1, { object: "Robot", method: "announce", args: { size: 3 } });
  await executor.call(2, { object: "Robot", method: "announce", args: { size: 3000 } });
  assert.deepEqual(events[0], {
    event: "note",
    data: { size: 3, pad: "xxx" },
    dataJson: undefined,
  });
  assert.equal(events[1].event, "note");
  assert.equal(events[1].data, undefined);
  assert.deepEqual(JSON.parse(events[1].dataJson ?? ""), { size: 3000, pad: "x".repeat(3000) });
});

Deno.test("PythonExecutor.cancel makes a call in flight resolve CANCELLED, and is false for others", async () => {
  await using started = await startProject();
  const { executor } = started;
  const call = executor.call(7, { object: "Robot", method: "spin", args: { seconds: 0.25 } });
  assert.equal(executor.cancel(7), true);
  const outcome = await within(call, WAIT_MS, "the CANCELLED outcome");
  assert.equal(outcome.error?.code, "CANCELLED");
  assert.equal(executor.cancel(7), false);
  assert.equal(executor.cancel(999), false);
});

Deno.test("PythonExecutor.safetyStop runs the stop hooks and the configured calls it has", async () => {
  await using started = await startProject();
  const { executor } = started;
  // Using Robot makes its instance's stop() a hook too.
  await executor.call(1, { object: "Robot", method: "fast", args: {} });
  const ran = await executor.safetyStop([
    { object: "Robot", method: "fast", args: {} },
    { object: "sport_client", method: "StopMove", args: {} },
    { object: "Robot", method: "missing", args: {} },
  ]);
  assert.deepEqual(ran, [
    {
      object: "*",
      method: "stop",
      ok: true,
      result: { ran: ["stop", "Robot.stop"], errors: [] },
    },
    { object: "Robot", method: "fast", ok: true, result: "fast" },
  ]);
});

Deno.test("PythonExecutor.start refuses a project that fails to import with START_FAILED", async () => {
  await assert.rejects(
    startProject("import no_such_module_here\n"),
    (error) => {
      assert.ok(error instanceof AgentError, String(error));
      assert.equal(error.code, "START_FAILED");
      assert.match(error.message, /^Cannot start Python project: ModuleNotFoundError: /);
      assert.match(error.message, /no_such_module_here/);
      return true;
    },
  );
});

Deno.test("PythonExecutor.start refuses an interpreter that cannot run with START_FAILED", async () => {
  const dir = await Deno.makeTempDir({ prefix: "python-executor-" });
  try {
    const runtime = await installRuntime(join(dir, "runtime"));
    await assert.rejects(
      PythonExecutor.start({
        runtime,
        root: dir,
        socketPath: join(dir, "project.sock"),
        command: join(dir, "no-such-python"),
        python: TEST_PYTHON,
        sandbox: testSandbox(dir, [runtime.hostPath]),
        threads: 1,
        callTimeoutS: 1,
        hardGraceS: 1,
        startTimeoutS: 5,
        maxFrameBytes: 1 << 20,
        onEvent() {},
        onExit() {},
      }),
      (error) => {
        assert.ok(error instanceof AgentError, String(error));
        assert.equal(error.code, "START_FAILED");
        assert.match(error.message, /^Cannot start Python project: .*no-such-python/);
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("PythonExecutor answers a call in flight with EXECUTOR_EXITED when python exits", async () => {
  await using started = await startProject();
  const { executor, exited } = started;
  const outcome = await within(
    executor.call(1, { object: "Robot", method: "die", args: {} }),
    WAIT_MS,
    "the outcome of a call whose process exits",
  );
  assert.equal(outcome.ok, false);
  assert.equal(outcome.error?.code, "EXECUTOR_EXITED");
  assert.match(outcome.error?.message ?? "", /exited \(code 3\) before Robot\.die returned/);
  assert.deepEqual(await exited, { code: 3, signal: null });
  assert.equal(executor.running, false);
  const after = await executor.call(2, { object: "Robot", method: "fast", args: {} });
  assert.equal(after.error?.code, "EXECUTOR_EXITED");
});

Deno.test("PythonExecutor kills python when a call stays blocked in C past the hard grace", async () => {
  await using started = await startProject();
  const { executor, exited } = started;
  const outcome = await within(
    executor.call(1, { object: "Robot", method: "sleep", args: { seconds: 30 } }),
    WAIT_MS,
    "the TIMEOUT of a call blocked in time.sleep",
  );
  assert.equal(outcome.ok, false);
  assert.equal(outcome.error?.code, "TIMEOUT");
  assert.equal(outcome.error?.abandoned, true);
  assert.equal(executor.status().abandoned_calls, 1);

  const info = await within(exited, WAIT_MS, "the kill after the hard grace");
  assert.equal(info.signal, "SIGKILL");
  assert.equal(executor.running, false);
  assert.equal(executor.status().abandoned_calls, 0);
  const after = await executor.call(2, { object: "Robot", method: "fast", args: {} });
  assert.equal(after.error?.code, "EXECUTOR_EXITED");
});

Deno.test("PythonExecutor keeps python when an interrupted call settles in time", async () => {
  await using started = await startProject();
  const { executor, exited } = started;
  let exitedEarly = false;
  exited.then(() => exitedEarly = true);
  const outcome = await within(
    executor.call(1, { object: "Robot", method: "spin", args: { seconds: 30 } }),
    WAIT_MS,
    "the TIMEOUT of a call in a Python loop",
  );
  assert.equal(outcome.error?.code, "TIMEOUT");
  assert.equal(outcome.error?.abandoned, true);
  const deadline = Date.now() + WAIT_MS;
  while (executor.status().abandoned_calls > 0 && Date.now() < deadline) await delay(20);
  assert.equal(executor.status().abandoned_calls, 0, "the interrupted call never settled");

  await delay(HARD_GRACE_S * 1000 + 500);
  assert.equal(exitedEarly, false, "python exited although the call settled");
  assert.equal(executor.running, true);
  const next = await within(
    executor.call(2, { object: "Robot", method: "fast", args: {} }),
    WAIT_MS,
    "a later call",
  );
  assert.deepEqual(next, { object: "Robot", method: "fast", ok: true, result: "fast" });
});

Deno.test("PythonExecutor.stop shuts python down cleanly and reports the exit once", async () => {
  await using started = await startProject();
  const { executor, exited } = started;
  const info = await within(executor.stop(), WAIT_MS, "the clean shutdown");
  assert.deepEqual(info, { code: 0, signal: null });
  assert.deepEqual(await exited, info);
  assert.equal(executor.running, false);
  assert.deepEqual(await executor.safetyStop([]), []);
});

const ROOT_ONLY_PYTHON = `${Deno.env.get("HOME") ?? ""}/.pyenv/versions/3.8.18/bin/python3`;
const rootsPython = Deno.uid() === 0 && (() => {
  try {
    return Deno.statSync(ROOT_ONLY_PYTHON).isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name:
    "PythonExecutor.start refuses a host interpreter the project's user cannot run, with the hint",
  ignore: !rootsPython,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "python-executor-" });
    try {
      const runtime = await installRuntime(join(dir, "runtime"));
      await Deno.mkdir(join(dir, "project"));
      await Deno.writeTextFile(join(dir, "project", "main.py"), "x = 1\n");
      await assert.rejects(
        PythonExecutor.start({
          runtime,
          root: join(dir, "project"),
          socketPath: join(dir, "project.sock"),
          command: "python3",
          // Under root's 0700 home: the sandbox user cannot run it.
          python: ROOT_ONLY_PYTHON,
          sandbox: {
            ...testSandbox(dir, [runtime.hostPath, join(dir, "project")]),
            exec_hint: "set sandbox.python",
          },
          threads: 1,
          callTimeoutS: 1,
          hardGraceS: 1,
          startTimeoutS: 10,
          maxFrameBytes: 1 << 20,
          onEvent() {},
          onExit() {},
        }),
        (error) => {
          assert.ok(error instanceof AgentError, String(error));
          assert.equal(error.code, "START_FAILED");
          assert.match(
            error.message,
            /^Cannot start Python project: cannot run .*python3.*: Permission denied \(set sandbox\.python\)$/,
          );
          return true;
        },
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
