/**
 * End-to-end: deployed code touches only what its permissions grant (docs/security.md).
 * Each attempt is made by a real project through the real agent, refused without the grant
 * and allowed with it. The agent runs as root here, so every layer is in force: the project
 * runs as the sandbox user, in a private view of storage, under Landlock.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { buildCpp, type Client, isAlive, makeZip, startAgent } from "./_agent.ts";

const SANDBOX_USER = "robot-agent-sandbox";
const SANDBOX_PYTHON = "/usr/bin/python3";

function canSwitchUsers(): boolean {
  try {
    Deno.statSync(SANDBOX_PYTHON);
    return Deno.uid() === 0 &&
      Deno.readTextFileSync("/etc/passwd").split("\n").some((line) =>
        line.startsWith(`${SANDBOX_USER}:`)
      );
  } catch {
    return false;
  }
}

const IGNORE = !canSwitchUsers();
const SKIPPED = IGNORE ? ` (skipped: needs root, ${SANDBOX_USER} and ${SANDBOX_PYTHON})` : "";

/** One project that tries things and says what happened: "ok" or the error's name. */
const PROBE = `
import os, socket, subprocess, time

def attempt(action):
    try:
        action()
        return "ok"
    except OSError as exc:
        return type(exc).__name__

def _write(path):
    with open(path, "a") as file:
        file.write("changed\\n")

class Probe:
    def uid(self):
        return os.getuid()

    def read(self, path):
        return attempt(lambda: open(path).read())

    def write(self, path):
        return attempt(lambda: _write(path))

    def data(self):
        return os.environ["ROBOT_AGENT_DATA"]

    def allocate(self, mib):
        block = bytearray(mib * 1024 * 1024)
        return len(block) // (1024 * 1024)

    def fork(self, count):
        children = []
        try:
            for _ in range(count):
                pid = os.fork()
                if pid == 0:
                    time.sleep(10)
                    os._exit(0)
                children.append(pid)
            return "ok"
        except OSError as exc:
            return type(exc).__name__
        finally:
            for pid in children:
                os.kill(pid, 9)
                os.waitpid(pid, 0)

    def connect(self, port):
        return attempt(lambda: socket.create_connection(("127.0.0.1", port), timeout=2).close())

    def leave_processes(self):
        child = subprocess.Popen(["sleep", "70"])
        read, write = os.pipe()
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.write(write, str(os.getpid()).encode())
                time.sleep(70)
            os._exit(0)
        return {"popen": child.pid, "daemon": int(os.read(read, 32))}
`;

/**
 * The agent's config: Debian's python3 for projects, `extra` lines under `sandbox:`, and
 * no probation, so a version that ran is one to roll back to at once.
 */
function config(extra = ""): string {
  return `lifecycle:\n  probation_s: 0\nsandbox:\n  python: ${SANDBOX_PYTHON}\n${extra}`;
}

/** Deploys PROBE with `permissions` (and a name), starts it, and returns the start reply. */
async function deployProbe(
  client: Client,
  permissions: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const manifest = JSON.stringify({ type: "python", name: "probe", permissions });
  const zip = await makeZip({ "main.py": PROBE, "robot-agent.json": manifest });
  const updated = await client.request({ command: "update", id: "u", data: zip.toBase64() });
  assert.equal(updated.status, "success", updated.message);
  const started = await client.request({ command: "start", id: "s" });
  assert.equal(started.status, "success", started.message);
  return started.data;
}

async function probe(client: Client, method: string, args: Record<string, unknown> = {}) {
  const { callback } = await client.call(crypto.randomUUID(), "Probe", method, args);
  return callback.data;
}

async function result(client: Client, method: string, args: Record<string, unknown> = {}) {
  const outcome = await probe(client, method, args);
  assert.equal(outcome.ok, true, JSON.stringify(outcome));
  return outcome.result;
}

/** A folder outside storage that every user may read and write: only the grants decide. */
async function openFolder(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "confinement-outside-" });
  await Deno.chmod(dir, 0o777);
  await Deno.writeTextFile(join(dir, "map.txt"), "a map\n");
  await Deno.chmod(join(dir, "map.txt"), 0o666);
  return dir;
}

Deno.test({
  name: `a project runs as the sandbox user, and start and status say what confines it${SKIPPED}`,
  ignore: IGNORE,
  async fn() {
    await using agent = await startAgent({ config: config() });
    await using client = await agent.connect();
    const started = await deployProbe(client);
    const uid = await result(client, "uid");
    assert.notEqual(uid, 0, "id -u is 0 inside the project");
    const confinement = started.confinement as Record<string, unknown>;
    assert.deepEqual(
      { name: (confinement.user as { name: string }).name, uid },
      { name: SANDBOX_USER, uid: (confinement.user as { uid: number }).uid },
    );
    assert.ok((confinement.landlock_abi as number) >= 1, JSON.stringify(confinement));
    assert.equal(confinement.net, "allowed");
    assert.deepEqual(confinement.limits, {
      memory_mb: 2048,
      processes: 512,
      open_files: 4096,
      file_size_mb: 4096,
    });
    const status = await client.request({ command: "status", id: "st" });
    assert.deepEqual(status.data.project.confinement, confinement);
  },
});

Deno.test({
  name:
    `a project reads outside its grants only with a read grant, never the agent's storage${SKIPPED}`,
  ignore: IGNORE,
  async fn() {
    const outside = await openFolder();
    try {
      await using agent = await startAgent({ config: config() });
      await using client = await agent.connect();
      await deployProbe(client);
      const map = join(outside, "map.txt");
      assert.equal(await result(client, "read", { path: map }), "PermissionError");
      const log = join(agent.storage, "logs", "agent.log");
      assert.notEqual(await result(client, "read", { path: log }), "ok");
      assert.notEqual(
        await result(client, "read", { path: join(agent.storage, "state.json") }),
        "ok",
      );
      await deployProbe(client, { read: [outside] });
      assert.equal(await result(client, "read", { path: map }), "ok");
      assert.notEqual(await result(client, "read", { path: log }), "ok");
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  },
});

Deno.test({
  name: `a project writes its data folder, and elsewhere only with a write grant${SKIPPED}`,
  ignore: IGNORE,
  async fn() {
    const outside = await openFolder();
    try {
      await using agent = await startAgent({ config: config() });
      await using client = await agent.connect();
      await deployProbe(client);
      const data = await result(client, "data");
      assert.equal(data, join(agent.storage, "data", "probe"));
      assert.equal(await result(client, "write", { path: join(data, "calibration.json") }), "ok");
      const target = join(outside, "out.txt");
      assert.equal(await result(client, "write", { path: target }), "PermissionError");
      await deployProbe(client, { write: [outside] });
      assert.equal(await result(client, "write", { path: target }), "ok");
      // The data folder outlived the version: it is the project name's.
      assert.equal(await Deno.readTextFile(join(data, "calibration.json")), "changed\n");
    } finally {
      await Deno.remove(outside, { recursive: true });
    }
  },
});

Deno.test({
  name:
    `a project cannot change its stored versions, so a rollback runs the code deployed${SKIPPED}`,
  ignore: IGNORE,
  async fn() {
    await using agent = await startAgent({ config: config() });
    await using client = await agent.connect();
    // Version 1 runs, so that it is a good version to roll back to.
    await client.deploy({ "main.py": "class V:\n    def v(self):\n        return 1\n" });
    assert.equal((await client.call("v1", "V", "v")).callback.data.result, 1);
    await deployProbe(client);
    const version = join(agent.storage, "projects", "v000002", "files", "main.py");
    const older = join(agent.storage, "projects", "v000001", "files", "main.py");
    assert.equal(await result(client, "write", { path: version }), "PermissionError");
    assert.notEqual(await result(client, "write", { path: older }), "ok");
    const back = await client.request({ command: "rollback", id: "r" });
    assert.equal(back.status, "success", back.message);
    assert.equal((await client.call("v", "V", "v")).callback.data.result, 1);
    assert.doesNotMatch(await Deno.readTextFile(older), /changed/);
  },
});

Deno.test({
  name: `a project past memory_mb gets a MemoryError, and within a larger grant succeeds${SKIPPED}`,
  ignore: IGNORE,
  async fn() {
    await using agent = await startAgent({ config: config() });
    await using client = await agent.connect();
    await deployProbe(client, { memory_mb: 300 });
    const refused = await probe(client, "allocate", { mib: 600 });
    assert.equal(refused.ok, false);
    assert.equal(refused.error.type, "MemoryError", JSON.stringify(refused));
    await deployProbe(client, { memory_mb: 2048 });
    assert.equal(await result(client, "allocate", { mib: 600 }), 600);
  },
});

Deno.test({
  name: `a project past processes cannot fork, and within a larger grant can${SKIPPED}`,
  ignore: IGNORE,
  async fn() {
    await using agent = await startAgent({ config: config() });
    await using client = await agent.connect();
    await deployProbe(client, { processes: 32 });
    assert.equal(await result(client, "fork", { count: 40 }), "BlockingIOError");
    await deployProbe(client, { processes: 256 });
    assert.equal(await result(client, "fork", { count: 40 }), "ok");
  },
});

Deno.test({
  name: `a project with net: false cannot open a TCP connection, and with net: true can${SKIPPED}`,
  ignore: IGNORE,
  async fn() {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = listener.addr.port;
    await using agent = await startAgent({ config: config() });
    await using client = await agent.connect();
    const started = await deployProbe(client, { net: false });
    assert.equal(
      (started.confinement as { net: string }).net,
      "loopback only (network namespace)",
    );
    assert.equal(await result(client, "connect", { port }), "ConnectionRefusedError");
    await deployProbe(client, { net: true });
    assert.equal(await result(client, "connect", { port }), "ok");
  },
});

Deno.test({
  name: `START and UPDATE after a daemon and a Popen child reply with both gone${SKIPPED}`,
  ignore: IGNORE,
  async fn() {
    await using agent = await startAgent({ config: config() });
    await using client = await agent.connect();
    await deployProbe(client);
    const first = await result(client, "leave_processes");
    for (const pid of Object.values(first) as number[]) assert.ok(await isAlive(pid), `${pid}`);
    const restarted = await client.request({ command: "start", id: "again" });
    assert.equal(restarted.status, "success", restarted.message);
    for (const [what, pid] of Object.entries(first)) {
      assert.equal(await isAlive(pid as number), false, `the ${what} (${pid}) survived START`);
    }
    const second = await result(client, "leave_processes");
    const zip = await makeZip({ "main.py": "class V:\n    def v(self):\n        return 2\n" });
    const updated = await client.request({ command: "update", id: "u2", data: zip.toBase64() });
    assert.equal(updated.status, "success", updated.message);
    for (const [what, pid] of Object.entries(second)) {
      assert.equal(await isAlive(pid as number), false, `the ${what} (${pid}) survived UPDATE`);
    }
  },
});

Deno.test({
  name: `a killed host is reported exited at once though its child holds the pipes${SKIPPED}`,
  ignore: IGNORE,
  async fn() {
    await using agent = await startAgent({ config: config() });
    await using client = await agent.connect();
    const started = await deployProbe(client);
    const left = await result(client, "leave_processes");
    const exited = client.event("project_exited");
    Deno.kill(started.pid as number, "SIGKILL");
    assert.equal((await exited).data.signal, "SIGKILL");
    const status = await client.request({ command: "status", id: "st" });
    assert.equal(status.data.project.state, "exited");
    assert.equal(status.data.project.pid, null);
    for (const pid of Object.values(left) as number[]) assert.equal(await isAlive(pid), false);
  },
});

const CPP_PROBE = `
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

static volatile std::sig_atomic_t stop_requested = 0;
static void on_term(int) { stop_requested = 1; }

static const char* attempt(const std::string& path, const char* mode) {
  std::FILE* file = std::fopen(path.c_str(), mode);
  if (!file) return "refused";
  std::fclose(file);
  return "ok";
}

int main(int argc, char** argv) {
  std::signal(SIGTERM, on_term);
  std::string data = std::getenv("ROBOT_AGENT_DATA");
  std::printf("uid=%d storage=%s data=%s own=%s\\n", (int)getuid(), attempt(argv[1], "r"),
              attempt(data + "/log.txt", "w"), attempt("app", "a"));
  std::fflush(stdout);
  while (!stop_requested) usleep(10000);
  return 0;
}
`;

Deno.test({
  name: `a C++ project starts through the launcher, confined like a Python one${SKIPPED}`,
  ignore: IGNORE,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const program = await buildCpp(CPP_PROBE, dir);
      await using agent = await startAgent({ config: config() });
      await using client = await agent.connect();
      const secret = join(agent.storage, "logs", "agent.log");
      const manifest = JSON.stringify({ type: "cpp", entry: "app", args: [secret] });
      const zip = await makeZip({ app: program, "robot-agent.json": manifest }, {
        modes: { app: 0o755 },
      });
      const updated = await client.request({ command: "update", id: 1, data: zip.toBase64() });
      assert.equal(updated.status, "success", updated.message);
      const started = await client.request({ command: "start", id: 2 });
      assert.equal(started.status, "success", started.message);
      assert.equal(started.data.confinement.user.name, SANDBOX_USER);
      await agent.waitForLog(/uid=(\d+) storage=refused data=ok own=refused/);
      const uid = Number(/uid=(\d+) storage=/.exec(agent.log)![1]);
      assert.equal(uid, started.data.confinement.user.uid);
      assert.notEqual(uid, 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    `an UPDATE asking beyond the ceiling is refused with PERMISSION_DENIED naming each excess${SKIPPED}`,
  ignore: IGNORE,
  async fn() {
    await using agent = await startAgent({
      config: config(
        "  ceiling:\n    net: false\n    memory_mb: 4096\n  defaults:\n    net: false\n",
      ),
    });
    await using client = await agent.connect();
    const permissions = { net: true, write: ["/etc"], read: [agent.storage], memory_mb: 8192 };
    const manifest = JSON.stringify({ type: "python", permissions });
    const zip = await makeZip({ "main.py": PROBE, "robot-agent.json": manifest });
    const refused = await client.request({ command: "update", id: 1, data: zip.toBase64() });
    assert.equal(refused.code, "PERMISSION_DENIED", refused.message);
    assert.deepEqual(
      refused.data.excess.map((excess: { permission: string }) => excess.permission),
      ["read", "write", "net", "memory_mb"],
    );
    for (const named of ["net", "write /etc", `read ${agent.storage}`, "memory_mb 8192"]) {
      assert.ok(refused.message.includes(named), `${named} is not named: ${refused.message}`);
    }
    const status = await client.request({ command: "status", id: 2 });
    assert.equal(status.data.project.version, 0, "the refused zip became a version");
  },
});

Deno.test({
  name:
    `on a kernel without Landlock the project still runs, and the report says what is missing${SKIPPED}`,
  ignore: IGNORE,
  async fn() {
    await using agent = await startAgent({ config: config("  pretend_missing: [landlock]\n") });
    await using client = await agent.connect();
    const started = await deployProbe(client, { net: false });
    const confinement = started.confinement as Record<string, unknown>;
    assert.equal(confinement.landlock_abi, null);
    assert.ok(
      (confinement.missing as string[]).some((entry) => entry.startsWith("landlock (kernel has")),
      JSON.stringify(confinement.missing),
    );
    // What remains: another user, a private view of storage, a network namespace.
    assert.notEqual(await result(client, "uid"), 0);
    const log = join(agent.storage, "logs", "agent.log");
    assert.equal(await result(client, "read", { path: log }), "FileNotFoundError");
    assert.equal(confinement.net, "loopback only (network namespace)");
  },
});
