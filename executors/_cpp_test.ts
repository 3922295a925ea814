import assert from "node:assert/strict";
import { join } from "node:path";
import type { ExitInfo } from "./_child.ts";
import { CppExecutor } from "./_cpp.ts";
import { installRuntime } from "./_runtime.ts";
import { testSandbox } from "./_test_utils.ts";

/** Bounds every wait, so a broken kill fails the test instead of hanging it. */
const WAIT_MS = 10_000;

/**
 * One program, its behaviour chosen by argv[1]: `exit N` exits with N; `serve` runs
 * until SIGTERM; `stubborn` ignores SIGTERM. Each writes `started`, holding its working
 * directory, in its data folder (ROBOT_AGENT_DATA: its own folder is read-only to it), and
 * `usr1` there when it gets SIGUSR1.
 */
const PROGRAM = `
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

static volatile std::sig_atomic_t stop_requested = 0;
static volatile std::sig_atomic_t usr1 = 0;
static void on_term(int) { stop_requested = 1; }
static void on_usr1(int) { usr1 = 1; }

static std::string in_data(const char* name) {
  const char* data = std::getenv("ROBOT_AGENT_DATA");
  return std::string(data ? data : ".") + "/" + name;
}

int main(int argc, char** argv) {
  if (argc > 2 && std::strcmp(argv[1], "exit") == 0) return std::atoi(argv[2]);
  std::signal(SIGUSR1, on_usr1);
  if (argc > 1 && std::strcmp(argv[1], "stubborn") == 0) std::signal(SIGTERM, SIG_IGN);
  else std::signal(SIGTERM, on_term);
  char cwd[4096];
  std::FILE* file = std::fopen(in_data("started").c_str(), "w");
  std::fputs(getcwd(cwd, sizeof cwd), file);
  std::fclose(file);
  while (!stop_requested) {
    if (usr1) {
      usr1 = 0;
      std::FILE* mark = std::fopen(in_data("usr1").c_str(), "w");
      std::fclose(mark);
    }
    usleep(5000);
  }
  return 0;
}
`;

interface Run {
  executor: CppExecutor;
  exited: Promise<ExitInfo>;
  /** The project folder. */
  dir: string;
  /** Its data folder, where the program leaves its marks. */
  data: string;
}

/** Builds the program with g++ into a fresh project folder and starts it with `args`. */
async function withProgram(
  args: string[],
  options: { stopSignal?: Deno.Signal; stopGraceS?: number },
  test: (run: Run) => Promise<void>,
): Promise<void> {
  const storage = await Deno.makeTempDir({ prefix: "cpp-executor-" });
  const dir = join(storage, "project");
  try {
    await Deno.mkdir(dir);
    await Deno.writeTextFile(join(storage, "main.cpp"), PROGRAM);
    const built = await new Deno.Command("g++", {
      args: ["-O1", "-o", join(dir, "app"), join(storage, "main.cpp")],
    }).output();
    assert.ok(built.success, new TextDecoder().decode(built.stderr));
    const exit = Promise.withResolvers<ExitInfo>();
    const sandbox = testSandbox(storage, [dir]);
    const executor = await CppExecutor.start({
      root: dir,
      entry: "app",
      args,
      launcher: "python3",
      runtime: await installRuntime(join(storage, "runtime")),
      sandbox,
      socketPath: join(storage, "project.sock"),
      startTimeoutS: 10,
      stopSignal: options.stopSignal ?? "SIGTERM",
      stopGraceS: options.stopGraceS ?? 5,
      onExit: exit.resolve,
    });
    try {
      await test({ executor, exited: exit.promise, dir, data: sandbox.data! });
    } finally {
      await executor.stop();
    }
  } finally {
    await Deno.remove(storage, { recursive: true });
  }
}

/** Waits until `path` exists. */
async function appears(path: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    if (await Deno.stat(path).then(() => true, () => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.fail(`${path} did not appear within ${WAIT_MS} ms`);
}

Deno.test("CppExecutor.start runs the executable in the project folder, confined, as the process it reports", async () => {
  await withProgram(["serve"], {}, async ({ executor, dir, data }) => {
    await appears(join(data, "started"));
    assert.equal(await Deno.readTextFile(join(data, "started")), dir);
    // As root, the agent runs projects as the sandbox user.
    if (Deno.uid() === 0) assert.notEqual(executor.confinement?.user.uid, 0);
    assert.ok(executor.confinement, "the launcher reported what confines it");
    assert.equal(executor.type, "cpp");
    assert.equal(executor.running, true);
    assert.equal(executor.revivable, false);
    assert.equal(executor.objects.size, 0);
    // The launcher's child exec'd the program: the pid is the executable's own. (`ps`,
    // since Deno reads /proc only with every permission.)
    const ps = await new Deno.Command("ps", { args: ["-o", "comm=", "-p", String(executor.pid)] })
      .output();
    assert.equal(new TextDecoder().decode(ps.stdout).trim(), "app");
  });
});

Deno.test("CppExecutor reports an exit on its own through onExit", async () => {
  await withProgram(["exit", "3"], {}, async ({ executor, exited }) => {
    assert.deepEqual(await exited, { code: 3, signal: null });
    assert.equal(executor.running, false);
    assert.deepEqual(await executor.safetyStop([]), []);
  });
});

Deno.test("CppExecutor.stop sends the stop signal and resolves with the clean exit", async () => {
  await withProgram(["serve"], { stopGraceS: 5 }, async ({ executor, exited, data }) => {
    await appears(join(data, "started"));
    assert.deepEqual(await executor.stop(), { code: 0, signal: null });
    assert.deepEqual(await exited, { code: 0, signal: null });
    assert.equal(executor.running, false);
  });
});

Deno.test("CppExecutor.stop kills with SIGKILL a process that ignores the stop signal", async () => {
  await withProgram(["stubborn"], { stopGraceS: 0.2 }, async ({ executor, data }) => {
    await appears(join(data, "started"));
    const info = await executor.stop();
    assert.equal(info.signal, "SIGKILL");
  });
});

Deno.test("CppExecutor.safetyStop sends the configured signal and says so", async () => {
  await withProgram(["serve"], { stopSignal: "SIGUSR1", stopGraceS: 0.2 }, async (run) => {
    await appears(join(run.data, "started"));
    assert.deepEqual(await run.executor.safetyStop([{ object: "a", method: "b", args: {} }]), [
      { signal: "SIGUSR1" },
    ]);
    await appears(join(run.data, "usr1"));
    assert.equal(run.executor.running, true);
  });
});

Deno.test("CppExecutor.call resolves NOT_SUPPORTED and nothing is ever in flight", async () => {
  await withProgram(["serve"], {}, async ({ executor }) => {
    const outcome = await executor.call(1, { object: "arm", method: "wave", args: {} });
    assert.equal(outcome.ok, false);
    assert.equal(outcome.object, "arm");
    assert.equal(outcome.error?.code, "NOT_SUPPORTED");
    assert.match(outcome.error?.message ?? "", /^Cannot call method: .*C\+\+ executable/);
    assert.equal(executor.cancel(1), false);
    assert.deepEqual(executor.status(), { python: null, abandoned_calls: 0, in_flight: 0 });
  });
});
