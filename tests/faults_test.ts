/**
 * End-to-end: the fault matrix of docs/reliability.md, each row through real processes.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type Client,
  delay,
  isAlive,
  LONG_LINK_TIMEOUT,
  makeZip,
  RawClient,
  startAgent,
  withToken,
} from "./_agent.ts";

const FRAGILE = `
import asyncio
import os
import time


class Fragile:
    def die(self):
        os._exit(7)

    def sleep(self, seconds):
        time.sleep(seconds)
        return seconds

    async def nap(self, seconds):
        await asyncio.sleep(seconds)
        return seconds

    def echo(self, value):
        return value

    def flood(self, count, size):
        for i in range(count):
            push_message("flood", {"i": i, "pad": "x" * size})
        return count

    def big(self, size):
        return "y" * size
`;

async function status(client: Client): Promise<Record<string, Record<string, unknown>>> {
  const reply = await client.request({ command: "status", id: `status-${Math.random()}` });
  assert.equal(reply.status, "success");
  return reply.data;
}

async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 10_000,
) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await delay(25);
  }
}

Deno.test("a Python process that dies fails its calls with EXECUTOR_EXITED and the next call revives it", async () => {
  // Good at once: a crash during its probation would bring back the previous version.
  await using agent = await startAgent({ config: "lifecycle:\n  probation_s: 0\n" });
  await using client = await agent.connect();
  await client.deploy({ "main.py": FRAGILE });
  const pending = await client.request({
    command: "process",
    id: "waiting",
    params: { object: "Fragile", method: "sleep", args: { seconds: 20 } },
  });
  assert.equal(pending.status, "success");
  const exited = client.event("project_exited");
  const died = await client.call("die", "Fragile", "die");
  assert.equal(died.callback.data.error.code, "EXECUTOR_EXITED");
  assert.equal((await client.callback("waiting")).data.error.code, "EXECUTOR_EXITED");
  assert.equal((await exited).data.code, 7);
  assert.equal((await status(client)).project.state, "exited");
  // The next call brings the project back.
  assert.equal(
    (await client.call("again", "Fragile", "echo", { value: 5 })).callback.data.result,
    5,
  );
  assert.equal((await status(client)).project.state, "running");
});

Deno.test("cancel answers a running call with CANCELLED at once", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  await client.deploy({ "main.py": FRAGILE });
  for (const method of ["nap", "sleep"]) {
    const id = `long-${method}`;
    const ack = await client.request({
      command: "process",
      id,
      params: { object: "Fragile", method, args: { seconds: 30 } },
    });
    assert.equal(ack.status, "success");
    const cancelled = await client.request({
      command: "cancel",
      id: `c-${method}`,
      params: { call_id: id },
    });
    assert.equal(cancelled.status, "success", cancelled.message);
    const callback = await client.callback(id, 5000);
    assert.equal(callback.data.error.code, "CANCELLED");
  }
  const unknown = await client.request({
    command: "cancel",
    id: "c-x",
    params: { call_id: "nope" },
  });
  assert.equal(unknown.code, "BAD_REQUEST");
  assert.equal(
    (await client.call("after", "Fragile", "echo", { value: 1 })).callback.data.ok,
    true,
  );
});

Deno.test("a worker killed during an UPDATE fails it cleanly and the running project survives", async () => {
  await using agent = await startAgent({ config: LONG_LINK_TIMEOUT });
  await using client = await agent.connect();
  await client.deploy({ "main.py": FRAGILE });
  const workerPid = (await status(client)).worker.pid as number;
  const noise = new Uint8Array(24 * 1024 * 1024);
  for (let at = 0; at < noise.length; at += 65536) {
    crypto.getRandomValues(noise.subarray(at, at + 65536));
  }
  const zip = await makeZip({ "main.py": "x = 1\n", "noise.bin": noise }, { level: 0 });
  const reply = client.reply("big");
  client.send({ command: "update", id: "big", data: zip.toBase64() });
  await delay(30);
  Deno.kill(workerPid, "SIGKILL");
  const failed = await reply;
  // The kill may land before or after the worker finished; either way nothing is half-done.
  if (failed.status === "error") assert.equal(failed.code, "WORKER_EXITED");
  await client.event("worker_restarted");
  const after = await status(client);
  const expected = failed.status === "success" ? 2 : 1;
  assert.equal(after.project.version, expected);
  assert.deepEqual([...Deno.readDirSync(join(agent.storage, "staging"))], []);
});

Deno.test("a crash loop stops the restarts while the gateway keeps serving", async () => {
  await using agent = await startAgent({
    config:
      "worker:\n  crash_loop_restarts: 2\n  crash_loop_window_s: 60\n  restart_delay_ms: 10\n",
  });
  await using client = await agent.connect();
  for (let i = 0; i < 3; i++) {
    const pid = (await status(client)).worker.pid as number;
    const next = i < 2 ? client.event("worker_restarted") : client.event("worker_crashed");
    Deno.kill(pid, "SIGKILL");
    await next;
  }
  const crashed = await status(client);
  assert.equal(crashed.worker.state, "crashed");
  assert.equal(crashed.worker.restarts, 2);
  const refused = await client.request({
    command: "process",
    id: "p",
    params: { object: "sport_client", method: "GetState", args: {} },
  });
  assert.equal(refused.code, "WORKER_UNAVAILABLE");
});

Deno.test("an agent killed mid-UPDATE restarts on the previous version with staging cleaned", async () => {
  const storage = await Deno.makeTempDir();
  try {
    let workerPid = 0;
    {
      const agent = await startAgent({ storage, config: LONG_LINK_TIMEOUT });
      const client = await agent.connect();
      await client.deploy({ "main.py": FRAGILE });
      const before = await status(client);
      workerPid = before.worker.pid as number;
      const pythonPid = before.project.pid as number;
      const noise = new Uint8Array(40 * 1024 * 1024);
      for (let at = 0; at < noise.length; at += 65536) {
        crypto.getRandomValues(noise.subarray(at, at + 65536));
      }
      const zip = await makeZip({ "main.py": "x = 1\n", "noise.bin": noise }, { level: 0 });
      client.send(zip);
      await waitUntil("staging to fill", () => {
        for (const entry of Deno.readDirSync(join(storage, "staging"))) if (entry.name) return true;
        return false;
      });
      // As systemd does to a service's cgroup: every process at once.
      for (const pid of [agent.child.pid, workerPid, pythonPid]) Deno.kill(pid, "SIGKILL");
      await agent.exited;
      await client.closed;
      await waitUntil("the worker to be gone", async () => !(await isAlive(workerPid)));
    }
    await using agent = await startAgent({ storage });
    await using client = await agent.connect();
    const after = await status(client);
    assert.equal(after.project.version, 1);
    assert.equal(after.project.state, "running");
    assert.deepEqual([...Deno.readDirSync(join(storage, "staging"))], []);
    assert.equal(
      (await client.call("e", "Fragile", "echo", { value: "ok" })).callback.data.result,
      "ok",
    );
  } finally {
    await Deno.remove(storage, { recursive: true });
  }
});

Deno.test("a full disk during UPDATE gives STORAGE_ERROR and the project keeps running", async () => {
  const storage = await Deno.makeTempDir();
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=3m", "tmpfs", storage],
  }).output();
  assert.equal(mount.code, 0, new TextDecoder().decode(mount.stderr));
  try {
    await using agent = await startAgent({ storage, config: "log:\n  level: warning\n" });
    await using client = await agent.connect();
    await client.deploy({ "main.py": FRAGILE });
    const noise = new Uint8Array(4 * 1024 * 1024);
    for (let at = 0; at < noise.length; at += 65536) {
      crypto.getRandomValues(noise.subarray(at, at + 65536));
    }
    const zip = await makeZip({ "main.py": "x = 1\n", "noise.bin": noise }, { level: 0 });
    const full = await client.request({ command: "update", id: "full", data: zip.toBase64() });
    assert.equal(full.status, "error");
    assert.equal(full.code, "STORAGE_ERROR", full.message);
    assert.match(full.message, /space/i);
    assert.equal((await client.call("e", "Fragile", "echo", { value: 3 })).callback.data.result, 3);
    assert.equal((await status(client)).project.version, 1);
  } finally {
    await new Deno.Command("umount", { args: [storage] }).output();
    await Deno.remove(storage, { recursive: true });
  }
});

Deno.test("a dead client that never answers pings frees the slot within the idle timeout", async () => {
  await using agent = await startAgent({ args: ["--idle-timeout", "1"] });
  const dead = await RawClient.open(agent.port, withToken("/ws", agent.token));
  try {
    const busy = await agent.connect();
    assert.equal((await busy.next()).code, "BUSY");
    await busy.closed;
    let client: Client | undefined;
    await waitUntil("the slot to be freed", async () => {
      const attempt = await agent.connect();
      // A refused connection says BUSY at once; an accepted one says nothing.
      const first = await attempt.next(() => true, 300).catch(() => undefined);
      if (first?.code === "BUSY") {
        await attempt.closed;
        return false;
      }
      client = attempt;
      return true;
    });
    assert.ok(client);
    assert.equal((await client.call(1, "sport_client", "GetState")).callback.data.ok, true);
    await client.close();
    await agent.waitForLog("Running the safety stop");
  } finally {
    dead.close();
  }
});

Deno.test("results that complete while a session's client is away are replayed on reconnect", async () => {
  await using agent = await startAgent();
  const first = await agent.connect("/ws?session=robot-1");
  await first.deploy({ "main.py": FRAGILE });
  const ack = await first.request({
    command: "process",
    id: "while-away",
    params: { object: "Fragile", method: "nap", args: { seconds: 0.5 } },
  });
  assert.equal(ack.status, "success");
  await first.close();
  await delay(900);
  await using second = await agent.connect("/ws?session=robot-1");
  const replayed = await second.callback("while-away");
  assert.equal(replayed.data.result, 0.5);
  assert.equal((await status(second)).gateway.held_results, 0);
  await second.close();

  // Without a session id a result with nobody to receive it is dropped, and counted.
  const anonymous = await agent.connect();
  await anonymous.request({
    command: "process",
    id: "lost",
    params: { object: "Fragile", method: "nap", args: { seconds: 0.3 } },
  });
  await anonymous.close();
  await delay(600);
  await using third = await agent.connect();
  assert.equal((await status(third)).gateway.dropped_results, 1);
});

Deno.test("a client that stops reading is closed with 4008 and its results wait for its session", async () => {
  await using agent = await startAgent({
    config: "gateway:\n  max_buffered_bytes: 262144\n  event_buffered_bytes: 65536\n",
  });
  {
    await using setup = await agent.connect();
    await setup.deploy({ "main.py": FRAGILE });
  }
  await agent.waitForLog("Running the safety stop");
  const slow = await RawClient.open(agent.port, withToken("/ws?session=slow", agent.token));
  try {
    // 20 MB of events, far more than loopback's socket buffers absorb: past 64 KiB of
    // backlog they are skipped and counted.
    await slow.send({
      command: "process",
      id: "flood",
      params: { object: "Fragile", method: "flood", args: { count: 1000, size: 20000 } },
    });
    await delay(300);
    // Each 1 MB result alone exceeds the 256 KiB limit: the first closes the connection
    // with 4008 unwritten, and every one of them waits for the session.
    for (const id of [...Array(40).keys()].map((i) => `big${i}`)) {
      await slow.send({
        command: "process",
        id,
        params: { object: "Fragile", method: "big", args: { size: 1000000 } },
      });
    }
    await agent.waitForLog("Client reads too slowly");
  } catch (error) {
    slow.close();
    throw error;
  }
  // What reached the slow client before the close, then what its session kept.
  const { messages: before, closeCode } = await slow.drain();
  slow.close();
  assert.equal(closeCode, 4008);
  await using back = await agent.connect("/ws?session=slow");
  const status4008 = await status(back);
  const after = back.received.splice(0);
  const all = [...before, ...after];
  const acked = new Set(all.filter((m) => m.status === "success").map((m) => m.id));
  const callbacks = new Map<string, number>();
  for (const m of all) {
    if (m.status === "callback" && !m.event) callbacks.set(m.id, (callbacks.get(m.id) ?? 0) + 1);
  }
  // Calls read before the close were accepted; the rest died with the connection unACKed.
  assert.ok([...acked].some((id) => String(id).startsWith("big")), "no big call was accepted");
  await waitUntil("the callbacks of every accepted call", () => {
    for (const m of back.received.splice(0)) {
      if (m.status === "callback" && !m.event) callbacks.set(m.id, (callbacks.get(m.id) ?? 0) + 1);
    }
    return [...acked].every((id) => callbacks.has(id));
  });
  for (const [id, count] of callbacks) assert.equal(count, 1, `${id} got ${count} callbacks`);
  assert.ok((status4008.gateway.dropped_events as number) > 0, JSON.stringify(status4008.gateway));
  assert.equal(status4008.gateway.dropped_results, 0);
});

Deno.test("rollback returns to the previous version, then to the built-in project", async () => {
  // Each started version is good at once, so each is one rollback can go to.
  await using agent = await startAgent({ config: "lifecycle:\n  probation_s: 0\n" });
  await using client = await agent.connect();
  await client.deploy({ "main.py": "class V:\n    def v(self):\n        return 1\n" });
  await client.deploy({ "main.py": "class V:\n    def v(self):\n        return 2\n" });
  assert.equal((await client.call("a", "V", "v")).callback.data.result, 2);
  const back = await client.request({ command: "rollback", id: "r1" });
  assert.equal(back.status, "success", back.message);
  assert.equal(back.data.version, 1);
  assert.equal(back.data.rolled_back_from, 2);
  assert.equal((await client.call("b", "V", "v")).callback.data.result, 1);
  assert.equal((await client.request({ command: "rollback", id: "r2" })).data.version, 0);
  assert.equal((await client.call("c", "sport_client", "GetState")).callback.data.ok, true);
  const none = await client.request({ command: "rollback", id: "r3" });
  assert.equal(none.code, "NO_PREVIOUS_VERSION");
});

Deno.test("shutdown fails in-flight calls with callbacks before closing the client", async () => {
  const agent = await startAgent();
  try {
    const client = await agent.connect();
    await client.deploy({ "main.py": FRAGILE });
    await client.request({
      command: "process",
      id: "inflight",
      params: { object: "Fragile", method: "nap", args: { seconds: 30 } },
    });
    const callback = client.callback("inflight");
    const closed = client.closed;
    assert.equal((await agent.stop()).code, 0);
    assert.equal((await callback).data.error.code, "SHUTTING_DOWN");
    assert.equal((await closed).code, 4002);
  } finally {
    await Deno.remove(agent.storage, { recursive: true });
  }
});

Deno.test("calls racing a START each get an error reply, or an ACK and exactly one callback", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  await client.deploy({ "main.py": FRAGILE });
  // The gateway ACKs from the object table it holds while START replaces the project
  // under it: calls sent after a START wait for it; calls already running on the old
  // project are cancelled with it. Whatever the timing, each gets exactly one answer.
  const ids: string[] = [];
  for (let round = 0; round < 5; round++) {
    client.send({ command: "start", id: `start-${round}` });
    for (let i = 0; i < 20; i++) {
      const id = `race-${round}-${i}`;
      ids.push(id);
      client.send({
        command: "process",
        id,
        params: { object: "Fragile", method: "echo", args: { value: i } },
      });
    }
    await client.reply(`start-${round}`);
  }
  const seen = new Map<string, string[]>();
  await waitUntil("every call to settle", () => {
    for (const m of client.received.splice(0)) {
      if (typeof m.id === "string" && m.id.startsWith("race-")) {
        seen.set(m.id, [...(seen.get(m.id) ?? []), m.status]);
      }
    }
    return ids.every((id) => {
      const statuses = seen.get(id) ?? [];
      return statuses.includes("error") || statuses.includes("callback");
    });
  });
  await delay(200);
  for (const m of client.received.splice(0)) {
    if (typeof m.id === "string" && m.id.startsWith("race-")) {
      seen.set(m.id, [...(seen.get(m.id) ?? []), m.status]);
    }
  }
  for (const id of ids) {
    const statuses = seen.get(id)!;
    const ok = (statuses.length === 1 && statuses[0] === "error") ||
      (statuses.length === 2 && statuses[0] === "success" && statuses[1] === "callback");
    assert.ok(ok, `${id}: ${statuses.join(", ")}`);
  }
  assert.equal(
    (await client.call("after", "Fragile", "echo", { value: 7 })).callback.data.result,
    7,
  );
});
