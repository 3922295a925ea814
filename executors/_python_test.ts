import assert from "node:assert/strict";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ExitInfo } from "./_child.ts";
import { PythonExecutor } from "./_python.ts";

const HOST_SCRIPT = fileURLToPath(new URL("python_host.py", import.meta.url));
const HARD_GRACE_S = 0.5;
/** Bounds every wait, so a broken kill fails the test instead of hanging it. */
const WAIT_MS = 10_000;

const PROJECT = `
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
`;

interface Started {
  executor: PythonExecutor;
  exited: Promise<ExitInfo>;
  dir: string;
}

async function startProject(): Promise<Started> {
  const dir = await Deno.makeTempDir({ prefix: "python-executor-" });
  await Deno.writeTextFile(join(dir, "main.py"), PROJECT);
  const exit = Promise.withResolvers<ExitInfo>();
  try {
    const executor = await PythonExecutor.start({
      hostScript: HOST_SCRIPT,
      root: dir,
      socketPath: join(dir, "python.sock"),
      command: "python3",
      threads: 4,
      callTimeoutS: 0.3,
      hardGraceS: HARD_GRACE_S,
      startTimeoutS: 10,
      maxFrameBytes: 1 << 20,
      onEvent() {},
      onExit: exit.resolve,
    });
    return { executor, exited: exit.promise, dir };
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

Deno.test("PythonExecutor kills python when a call stays blocked in C past the hard grace", async () => {
  const started = await startProject();
  const { executor, exited } = started;
  try {
    const outcome = await within(
      executor.call(1, "Robot", "sleep", { seconds: 30 }),
      WAIT_MS,
      "the TIMEOUT of a call blocked in time.sleep",
    );
    assert.equal(outcome.ok, false);
    assert.equal(outcome.error?.code, "TIMEOUT");
    assert.equal((outcome.error as { abandoned?: boolean }).abandoned, true);
    assert.equal(executor.abandoned, 1);

    const info = await within(exited, WAIT_MS, "the kill after the hard grace");
    assert.equal(info.signal, "SIGKILL");
    assert.equal(executor.running, false);
    assert.equal(executor.abandoned, 0);
    const after = await executor.call(2, "Robot", "fast", {});
    assert.equal(after.error?.code, "EXECUTOR_EXITED");
  } finally {
    await stopProject(started);
  }
});

Deno.test("PythonExecutor keeps python when an interrupted call settles in time", async () => {
  const started = await startProject();
  const { executor, exited } = started;
  let exitedEarly = false;
  exited.then(() => exitedEarly = true);
  try {
    const outcome = await within(
      executor.call(1, "Robot", "spin", { seconds: 30 }),
      WAIT_MS,
      "the TIMEOUT of a call in a Python loop",
    );
    assert.equal(outcome.error?.code, "TIMEOUT");
    assert.equal((outcome.error as { abandoned?: boolean }).abandoned, true);
    const deadline = Date.now() + WAIT_MS;
    while (executor.abandoned > 0 && Date.now() < deadline) await delay(20);
    assert.equal(executor.abandoned, 0, "the interrupted call never settled");

    await delay(HARD_GRACE_S * 1000 + 500);
    assert.equal(exitedEarly, false, "python exited although the call settled");
    assert.equal(executor.running, true);
    const next = await within(executor.call(2, "Robot", "fast", {}), WAIT_MS, "a later call");
    assert.deepEqual(next, { object: "Robot", method: "fast", ok: true, result: "fast" });
  } finally {
    await stopProject(started);
  }
});
