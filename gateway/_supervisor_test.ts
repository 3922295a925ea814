import assert from "node:assert/strict";
import { join } from "node:path";
import { validateConfig } from "../config.ts";
import { ErrorCode } from "../errors.ts";
import { type CallOutcome, IPC_MAX_FRAME_BYTES, type ProjectTable } from "../ipc/mod.ts";
import { EXIT_AFTER_CODE, EXIT_AT_ONCE_CODE, FAKE_TABLE } from "../tests/_fake_worker.ts";
import type { WorkerLinkListener, WorkerState } from "./_link.ts";
import { RawJson } from "./_replies.ts";
import { WorkerSupervisor } from "./_supervisor.ts";

const FAKE_WORKER = new URL("../tests/_fake_worker.ts", import.meta.url).pathname;
const encoder = new TextEncoder();

/** Everything the supervisor told its listener, in order. */
class Recorder implements WorkerLinkListener {
  readonly states: WorkerState[] = [];
  readonly projects: (ProjectTable | null | undefined)[] = [];
  readonly exits: string[] = [];
  readonly events: { event: string; data: unknown }[] = [];
  readonly callbacks: { id: number; outcome: CallOutcome }[] = [];
  /** Each notification as `kind:detail`, to check their order. */
  readonly log: string[] = [];
  #waiters: { test(): boolean; resolve(): void }[] = [];

  onCallback(id: number, outcome: CallOutcome): void {
    this.callbacks.push({ id, outcome });
    this.#note(`callback:${id}`);
  }

  onEvent(event: string, data: unknown): void {
    this.events.push({ event, data });
    this.#note(`event:${event}`);
  }

  onProject(project: ProjectTable | null | undefined): void {
    this.projects.push(project);
    this.#note(
      `project:${project === undefined ? "unknown" : project === null ? "none" : "table"}`,
    );
  }

  readonly hung: boolean[] = [];

  onWorkerExit(how: string, options?: { hung: boolean }): void {
    this.exits.push(how);
    this.hung.push(options?.hung ?? false);
    this.#note(`exit:${how}`);
  }

  onState(state: WorkerState): void {
    this.states.push(state);
    this.#note(`state:${state}`);
  }

  /** Resolves once `test` holds after some notification (or at once). */
  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ test, resolve }));
  }

  #note(entry: string): void {
    this.log.push(entry);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.test()) return true;
      waiter.resolve();
      return false;
    });
  }
}

interface Setup {
  supervisor: WorkerSupervisor;
  recorder: Recorder;
  dir: string;
  ipcPath: string;
  /** The pids of every fake worker started so far. */
  pids(): number[];
}

/**
 * A supervisor over the fake worker, started with `flags`, in a temporary folder that
 * `using` removes after stopping the supervisor. `worker` overrides `worker.*` config.
 */
async function setup(
  flags: string[],
  options: {
    worker?: Record<string, number>;
    python?: Record<string, number>;
    /** Only the first run behaves as `flags` say; restarts exit at once (`--once`). */
    once?: boolean;
  } = {},
): Promise<Setup & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "supervisor-" });
  const pidFile = join(dir, "pids");
  const ipcPath = join(dir, "worker.sock");
  if (options.once) flags = [...flags, `--once=${join(dir, "once")}`];
  const config = validateConfig({
    storage: { dir },
    worker: {
      start_timeout_s: 10,
      restart_delay_ms: 1,
      restart_max_delay_ms: 20,
      crash_loop_restarts: 2,
      ...options.worker,
    },
    python: options.python ?? {},
  });
  const supervisor = new WorkerSupervisor({
    command: {
      program: Deno.execPath(),
      args: ["run", "--quiet", "--no-prompt", "-A", FAKE_WORKER, `--pids=${pidFile}`, ...flags],
    },
    ipcPath,
    config,
    maxFrameBytes: IPC_MAX_FRAME_BYTES,
  });
  const recorder = new Recorder();
  supervisor.listen(recorder);
  const pids = () => {
    try {
      return Deno.readTextFileSync(pidFile).split("\n").filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  return {
    supervisor,
    recorder,
    dir,
    ipcPath,
    pids,
    async [Symbol.asyncDispose]() {
      try {
        await supervisor.stop(1000);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  };
}

/** The live child processes of this test process (`ps` itself aside), from `ps`. */
async function liveChildren(): Promise<string[]> {
  const output = await new Deno.Command("ps", {
    args: ["--ppid", String(Deno.pid), "-o", "pid=,stat=,comm="],
  }).output();
  return new TextDecoder().decode(output.stdout).split("\n").map((line) => line.trim())
    .filter((line) => line && !/^\d+\s+Z/.test(line) && !/\sps$/.test(line));
}

/** Whether a process is alive and not a zombie. */
async function isAlive(pid: number): Promise<boolean> {
  const output = await new Deno.Command("ps", { args: ["-o", "stat=", "-p", String(pid)] })
    .output();
  const stat = new TextDecoder().decode(output.stdout).trim();
  return stat !== "" && !stat.startsWith("Z");
}

async function assertNoWorkerLeft(pids: number[], ipcPath: string): Promise<void> {
  for (const pid of pids) assert.equal(await isAlive(pid), false, `worker ${pid} still runs`);
  assert.deepEqual(await liveChildren(), [], "a child process is left");
  assert.throws(() => Deno.statSync(ipcPath), Deno.errors.NotFound, "the socket file is left");
}

Deno.test("WorkerSupervisor.start runs the worker and passes on the table it published before ready", async () => {
  await using s = await setup(["--table"]);
  await s.supervisor.start();
  assert.equal(s.supervisor.state, "running");
  assert.deepEqual(s.recorder.states, ["starting", "running"]);
  assert.deepEqual(s.recorder.projects, [FAKE_TABLE]);
  // The table before the news of running: calls held meanwhile are judged against it.
  assert.deepEqual(s.recorder.log, ["state:starting", "project:table", "state:running"]);
  assert.deepEqual(s.pids(), [s.supervisor.pid]);
  assert.equal(s.supervisor.restarts, 0);
});

Deno.test("WorkerSupervisor.start publishes no table when the worker sent none", async () => {
  await using s = await setup([]);
  await s.supervisor.start();
  assert.deepEqual(s.recorder.projects, [null]);
});

Deno.test("WorkerSupervisor.request carries params and body and resolves with the worker's reply", async () => {
  await using s = await setup([]);
  await s.supervisor.start();
  const body = new Uint8Array(300_000).fill(7);
  const [update, status] = await Promise.all([
    s.supervisor.request("update", {}, body),
    s.supervisor.request("safety_stop", { reason: "test" }),
  ]);
  assert.equal(update.ok, true, update.message);
  assert.deepEqual(update.data, {
    op: "update",
    params: {},
    body_bytes: 300_000,
    pid: s.pids()[0],
  });
  assert.equal(status.ok, true, status.message);
  assert.deepEqual(status.data, {
    op: "safety_stop",
    params: { reason: "test" },
    body_bytes: null,
    pid: s.pids()[0],
  });
  assert.notEqual(update.id, status.id);
});

Deno.test("WorkerSupervisor.call sends calls and passes callbacks on, a body as RawJson", async () => {
  await using s = await setup([]);
  await s.supervisor.start();
  assert.equal(
    s.supervisor.call({ t: "call", id: 1, object: "arm", method: "wave", args: { times: 2 } }),
    true,
  );
  const longArgs = JSON.stringify({ points: Array.from({ length: 500 }, (_, i) => i) });
  assert.equal(
    s.supervisor.call(
      { t: "call", id: 2, object: "arm", method: "emit" },
      encoder.encode(longArgs),
    ),
    true,
  );
  await s.recorder.until(() => s.recorder.callbacks.length === 2);
  const [first, second] = s.recorder.callbacks;
  assert.deepEqual(first, {
    id: 1,
    outcome: { object: "arm", method: "wave", ok: true, result: { times: 2 } },
  });
  assert.equal(second.id, 2);
  assert.ok(second.outcome.result instanceof RawJson, "a body is passed on as RawJson");
  assert.equal(second.outcome.result.text, longArgs);
  // The event the call pushed, with its data as the frame's body, came first.
  assert.deepEqual(s.recorder.log.slice(-2), ["event:emitted", "callback:2"]);
  const event = s.recorder.events[0];
  assert.ok(event.data instanceof RawJson);
  assert.equal(event.data.text, longArgs);
});

Deno.test("WorkerSupervisor holds a request sent while the worker restarts and the new worker answers it", async () => {
  await using s = await setup([], { worker: { restart_delay_ms: 50 } });
  await s.supervisor.start();
  const first = s.supervisor.pid;
  s.supervisor.kill();
  await s.recorder.until(() => s.recorder.states.includes("restarting"));
  assert.equal(s.supervisor.state, "restarting");
  assert.equal(s.supervisor.call({ t: "call", id: 1, object: "arm", method: "wave" }), false);
  const reply = await s.supervisor.request("status", {});
  assert.equal(reply.ok, true, reply.message);
  const second = s.supervisor.pid;
  assert.notEqual(second, first);
  assert.equal((reply.data as unknown as { pid: number }).pid, second);
  assert.equal(s.supervisor.restarts, 1);
  assert.deepEqual(s.recorder.exits, ["signal SIGKILL"]);
  const restarted = s.recorder.events.find((e) => e.event === "worker_restarted");
  assert.deepEqual(restarted?.data, { pid: second, restarts: 1, exit: "signal SIGKILL" });
  assert.deepEqual(s.recorder.states, ["starting", "running", "restarting", "starting", "running"]);
});

Deno.test("WorkerSupervisor answers WORKER_EXITED when the worker exits mid-request, and says so", async () => {
  await using s = await setup(["--table", "--exit-after=2"]);
  await s.supervisor.start();
  assert.equal((await s.supervisor.request("status", {})).ok, true);
  const reply = await s.supervisor.request("start", {});
  assert.equal(reply.ok, false);
  assert.equal(reply.ok === false && reply.code, ErrorCode.WORKER_EXITED);
  assert.equal(
    reply.message,
    `Request failed: the worker exited (code ${EXIT_AFTER_CODE}) before replying`,
  );
  assert.deepEqual(s.recorder.exits, [`code ${EXIT_AFTER_CODE}`]);
  // The table is unknown from the exit on, and the exit is told before the restart.
  const exitAt = s.recorder.log.indexOf(`exit:code ${EXIT_AFTER_CODE}`);
  assert.deepEqual(s.recorder.log.slice(exitAt - 1, exitAt + 2), [
    "project:unknown",
    `exit:code ${EXIT_AFTER_CODE}`,
    "state:restarting",
  ]);
  await s.recorder.until(() => s.supervisor.restarts === 1 && s.supervisor.state === "running");
  assert.deepEqual(s.recorder.projects.at(-1), FAKE_TABLE);
});

Deno.test("WorkerSupervisor stops restarting after a crash loop and answers WORKER_UNAVAILABLE", async () => {
  // Each worker exits on its first request; a request sent while it restarts is held for
  // the next one, which exits on it too.
  await using s = await setup(["--exit-after=1"], { worker: { crash_loop_restarts: 2 } });
  await s.supervisor.start();
  const codes: string[] = [];
  for (let i = 0; i < 3; i++) {
    const reply = await s.supervisor.request("status", {});
    codes.push(reply.ok ? "ok" : reply.code);
  }
  assert.deepEqual(codes, Array(3).fill(ErrorCode.WORKER_EXITED));
  assert.equal(s.supervisor.state, "crashed");
  assert.equal(s.supervisor.restarts, 2);
  assert.equal(s.supervisor.pid, null);
  const refused = await s.supervisor.request("status", {});
  assert.equal(refused.ok === false && refused.code, ErrorCode.WORKER_UNAVAILABLE);
  assert.match(refused.message, /^Cannot reach worker: the worker crashed repeatedly/);
  assert.equal(s.supervisor.call({ t: "call", id: 1, object: "arm", method: "wave" }), false);
  const crashed = s.recorder.events.find((e) => e.event === "worker_crashed");
  assert.deepEqual(crashed?.data, { restarts: 2, exit: `code ${EXIT_AFTER_CODE}` });
  assert.equal(s.recorder.states.at(-1), "crashed");
  assert.equal(s.pids().length, 3);
});

Deno.test("WorkerSupervisor retries a worker that fails to restart until the crash loop, then refuses held requests", async () => {
  // The first run answers; every restart exits before connecting.
  await using s = await setup([], { once: true });
  await s.supervisor.start();
  s.supervisor.kill();
  await s.recorder.until(() => s.recorder.states.includes("restarting"));
  const held = await s.supervisor.request("status", {});
  assert.equal(held.ok === false && held.code, ErrorCode.WORKER_UNAVAILABLE);
  assert.match(held.message, /crashed repeatedly/);
  assert.equal(s.supervisor.state, "crashed");
  assert.equal(s.supervisor.restarts, 2);
  // Only a worker that connected is told as an exit: nothing was sent to the others.
  assert.deepEqual(s.recorder.exits, ["signal SIGKILL"]);
  assert.deepEqual(s.recorder.states, [
    "starting",
    "running",
    "restarting",
    "starting",
    "restarting",
    "starting",
    "crashed",
  ]);
  assert.equal(s.pids().length, 3);
  await assertNoWorkerLeft(s.pids(), s.ipcPath);
});

Deno.test("WorkerSupervisor.start rejects with a clear message when the worker never connects", async () => {
  await using s = await setup(["--mode=no-connect"], { worker: { start_timeout_s: 1 } });
  await assert.rejects(
    s.supervisor.start(),
    /^Error: Cannot start worker: Cannot accept connection: no peer within 1000 ms$/,
  );
  assert.equal(s.supervisor.state, "stopped");
  const refused = await s.supervisor.request("status", {});
  assert.equal(refused.ok === false && refused.code, ErrorCode.WORKER_UNAVAILABLE);
  await assertNoWorkerLeft(s.pids(), s.ipcPath);
});

Deno.test("WorkerSupervisor.start rejects when the worker exits before connecting or cannot run", async () => {
  await using s = await setup(["--mode=exit"]);
  await assert.rejects(
    s.supervisor.start(),
    new RegExp(`Cannot start worker: it exited \\(code ${EXIT_AT_ONCE_CODE}\\) before connecting`),
  );
  await assertNoWorkerLeft(s.pids(), s.ipcPath);
  const missing = new WorkerSupervisor({
    command: { program: join(s.dir, "no-such-program"), args: [] },
    ipcPath: s.ipcPath,
    config: validateConfig({ storage: { dir: s.dir } }),
    maxFrameBytes: IPC_MAX_FRAME_BYTES,
  });
  await assert.rejects(missing.start(), /Cannot start worker: .*no-such-program could not be run/);
  await missing.stop();
});

Deno.test("WorkerSupervisor.start rejects and kills a worker that connects but is never ready", async () => {
  await using s = await setup(["--mode=no-ready"], {
    worker: { start_timeout_s: 1 },
    python: { start_timeout_s: 1 },
  });
  const held = s.supervisor.request("status", {});
  await assert.rejects(
    s.supervisor.start(),
    /^Error: Cannot start worker: not ready within 2 s \(worker\.start_timeout_s \+ python\.start_timeout_s\)$/,
  );
  assert.equal(s.supervisor.state, "stopped");
  const reply = await held;
  assert.equal(reply.ok === false && reply.code, ErrorCode.WORKER_UNAVAILABLE);
  assert.equal(s.pids().length, 1);
  await assertNoWorkerLeft(s.pids(), s.ipcPath);
});

Deno.test("WorkerSupervisor.stop leaves no worker process and no socket file", async () => {
  await using s = await setup(["--table"]);
  await s.supervisor.start();
  await s.supervisor.stop();
  assert.equal(s.supervisor.state, "stopped");
  assert.equal(s.supervisor.pid, null);
  await assertNoWorkerLeft(s.pids(), s.ipcPath);
  const refused = await s.supervisor.request("status", {});
  assert.equal(refused.ok === false && refused.code, ErrorCode.SHUTTING_DOWN);
  assert.equal(s.supervisor.call({ t: "call", id: 1, object: "arm", method: "wave" }), false);
});

Deno.test("WorkerSupervisor.stop during a start or a restart stops the worker being started", async () => {
  await using s = await setup([]);
  const starting = s.supervisor.start();
  const held = s.supervisor.request("status", {});
  await s.supervisor.stop();
  await assert.rejects(starting, /Cannot start worker/);
  const reply = await held;
  assert.equal(reply.ok === false && reply.code, ErrorCode.SHUTTING_DOWN);
  assert.equal(s.supervisor.state, "stopped");
  await assertNoWorkerLeft(s.pids(), s.ipcPath);

  await using r = await setup([], { worker: { restart_delay_ms: 0 } });
  await r.supervisor.start();
  r.supervisor.kill();
  // The restart's spawn is under way once the state is back to starting.
  await r.recorder.until(() =>
    r.recorder.states.filter((state) => state === "starting").length === 2
  );
  await r.supervisor.stop();
  assert.equal(r.supervisor.state, "stopped");
  await assertNoWorkerLeft(r.pids(), r.ipcPath);
});

Deno.test("WorkerSupervisor kills a worker that stops answering its heartbeat and restarts it", async () => {
  await using s = await setup([], { worker: { hang_timeout_s: 0.6 } });
  await s.supervisor.start();
  const first = s.supervisor.pid!;
  Deno.kill(first, "SIGSTOP");
  await s.recorder.until(() => s.supervisor.restarts === 1 && s.supervisor.state === "running");
  assert.match(s.recorder.exits[0], /^it stopped answering for \d/);
  assert.deepEqual(s.recorder.hung, [true]);
  assert.equal(await isAlive(first), false);
  assert.equal((await s.supervisor.request("status", {})).ok, true);
});
