/**
 * End-to-end: a C++ project built with g++ is deployed, started, logged and stopped.
 */
import assert from "node:assert/strict";
import { buildCpp, delay, isAlive, makeZip, startAgent } from "./_agent.ts";

const SERVICE = `
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

static volatile std::sig_atomic_t stop_requested = 0;
static void on_term(int) { stop_requested = 1; }

int main(int argc, char** argv) {
  std::signal(SIGTERM, on_term);
  std::ifstream config("config.txt");
  std::string line;
  std::getline(config, line);
  std::printf("cpp service up: %s, args %d\\n", line.c_str(), argc - 1);
  std::fflush(stdout);
  std::fprintf(stderr, "cpp diagnostics on stderr\\n");
  while (!stop_requested) usleep(10000);
  std::printf("cpp service stopping on SIGTERM\\n");
  std::fflush(stdout);
  return 0;
}
`;

const EXITS = `
#include <cstdio>
int main() { std::printf("short-lived run\\n"); return 3; }
`;

Deno.test("a C++ executable is deployed, started in its folder, logged and stopped on update", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const service = await buildCpp(SERVICE, dir);
    await using agent = await startAgent();
    await using client = await agent.connect();
    const zip = await makeZip(
      { "bin/robot_service": service, "config.txt": "gait=trot\n" },
      { modes: { "bin/robot_service": 0o755 } },
    );
    const reply = client.next();
    client.send(zip);
    const updated = await reply;
    assert.equal(updated.status, "success", updated.message);
    assert.equal(updated.data.type, "cpp");
    assert.equal(updated.data.entry, "bin/robot_service");

    const started = await client.request({ command: "start", id: "s" });
    assert.equal(started.status, "success", started.message);
    const pid = started.data.pid as number;
    assert.ok(await isAlive(pid), JSON.stringify(started));
    // The working directory is the project folder: it read config.txt.
    await agent.waitForLog("cpp service up: gait=trot, args 0");
    await agent.waitForLog("cpp diagnostics on stderr");

    const call = await client.request({
      command: "process",
      id: "p",
      params: { object: "x", method: "y", args: {} },
    });
    assert.equal(call.code, "NOT_SUPPORTED");

    // A new UPDATE stops the running executable with SIGTERM.
    const python = await makeZip({ "main.py": "class A:\n    def v(self):\n        return 2\n" });
    const next = await client.request({ command: "update", id: "u2", data: python.toBase64() });
    assert.equal(next.status, "success", next.message);
    await agent.waitForLog("cpp service stopping on SIGTERM");
    assert.equal(await isAlive(pid), false);
    assert.equal((await client.request({ command: "start", id: "s2" })).status, "success");
    assert.equal((await client.call("c", "A", "v")).callback.data.result, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a C++ executable that exits on its own is reported with its exit code", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const program = await buildCpp(EXITS, dir);
    // It exits within its probation: without this, the built-in project would replace it.
    await using agent = await startAgent({ config: "lifecycle:\n  auto_rollback: false\n" });
    await using client = await agent.connect();
    const zip = await makeZip({ "app": program }, { modes: { app: 0o755 } });
    assert.equal(
      (await client.request({ command: "update", id: 1, data: zip.toBase64() })).status,
      "success",
    );
    const exited = client.event("project_exited");
    assert.equal((await client.request({ command: "start", id: 2 })).status, "success");
    const event = await exited;
    assert.equal(event.data.type, "cpp");
    assert.equal(event.data.code, 3);
    await agent.waitForLog("short-lived run");
    await delay(50);
    const status = await client.request({ command: "status", id: 3 });
    assert.equal(status.data.project.state, "exited");
    assert.equal(status.data.project.last_exit.code, 3);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a zipped ELF without its executable bit is refused with a clear reason", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const program = await buildCpp(EXITS, dir);
    await using agent = await startAgent();
    await using client = await agent.connect();
    const zip = await makeZip({ "app": program }, { modes: { app: 0o644 } });
    const reply = await client.request({ command: "update", id: 1, data: zip.toBase64() });
    assert.equal(reply.status, "error");
    assert.equal(reply.code, "NO_PROJECT");
    assert.match(reply.message, /app/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
