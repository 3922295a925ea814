/**
 * End-to-end: access control against the attacks found on the robot's Wi-Fi — no
 * credentials, a foreign page, DNS rebinding, a stolen session, a silent client holding
 * the slot, a flood of half-open connections — through the real agent.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Client, delay, startAgent, withToken } from "./_agent.ts";

interface RawResponse {
  status: number;
  headers: Headers;
  body: string;
}

/** Sends a WebSocket handshake by hand and reads the HTTP answer (a refusal, or 101). */
async function handshake(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const fields = {
      Host: `127.0.0.1:${port}`,
      Upgrade: "websocket",
      Connection: "Upgrade",
      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version": "13",
      ...headers,
    };
    const head = Object.entries(fields).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    await conn.write(new TextEncoder().encode(`GET ${path} HTTP/1.1\r\n${head}\r\n`));
    let text = "";
    const buffer = new Uint8Array(4096);
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const n = await conn.read(buffer);
      if (n === null) break;
      text += new TextDecoder().decode(buffer.subarray(0, n));
      if (text.startsWith("HTTP/1.1 101") && text.includes("\r\n\r\n")) break;
    }
    const [top, ...rest] = text.split("\r\n\r\n");
    const [statusLine, ...lines] = top.split("\r\n");
    const parsed = new Headers();
    for (const line of lines) {
      const colon = line.indexOf(":");
      parsed.append(line.slice(0, colon), line.slice(colon + 1).trim());
    }
    return {
      status: Number(statusLine.split(" ")[1]),
      headers: parsed,
      body: rest.join("\r\n\r\n"),
    };
  } finally {
    conn.close();
  }
}

Deno.test("a handshake without a known token is refused 401 before the upgrade", async () => {
  await using agent = await startAgent();
  for (const path of ["/ws", "/ws?token=ra_wrong", "/"]) {
    const answer = await handshake(agent.port, path);
    assert.equal(answer.status, 401, path);
    const body = JSON.parse(answer.body);
    assert.equal(body.code, "UNAUTHORIZED");
    assert.match(body.message, /token/);
  }
  assert.equal((await handshake(agent.port, withToken("/ws", agent.token))).status, 101);
  const bearer = await handshake(agent.port, "/ws", { Authorization: `Bearer ${agent.token}` });
  assert.equal(bearer.status, 101);
  const browser = await handshake(agent.port, "/ws", {
    "Sec-WebSocket-Protocol": `robot-agent, bearer.${agent.token}`,
  });
  assert.equal(browser.status, 101);
  assert.equal(browser.headers.get("sec-websocket-protocol"), "robot-agent");
  await agent.waitForLog(/Refused a handshake from .?127\.0\.0\.1.?: .?no token/);
  assert.doesNotMatch(agent.log, new RegExp(agent.token!), "the log never carries the token");
});

Deno.test("foreign origins, Origin: null and a rebinding Host are refused 403", async () => {
  await using agent = await startAgent();
  const path = withToken("/ws", agent.token);
  for (const origin of ["http://evil.example", "null"]) {
    const answer = await handshake(agent.port, path, { Origin: origin });
    assert.equal(answer.status, 403, origin);
    assert.equal(JSON.parse(answer.body).code, "FORBIDDEN");
  }
  const rebound = await handshake(agent.port, path, { Host: "attacker.example:8000" });
  assert.equal(rebound.status, 403);
  const own = await handshake(agent.port, path, { Origin: `http://127.0.0.1:${agent.port}` });
  assert.equal(own.status, 101, "the agent's own page may connect");
});

Deno.test("an address that keeps failing is answered 429 for a while", async () => {
  await using agent = await startAgent({ config: "auth:\n  max_failures: 3\n  block_s: 60\n" });
  for (let i = 0; i < 3; i++) {
    assert.equal((await handshake(agent.port, "/ws?token=x")).status, 401);
  }
  const blocked = await handshake(agent.port, withToken("/ws", agent.token));
  assert.equal(blocked.status, 429, "blocked even with the right token");
  assert.equal(JSON.parse(blocked.body).code, "RATE_LIMITED");
  assert.ok(Number(blocked.headers.get("retry-after")) > 0);
});

Deno.test("tokens added and revoked with the token command take effect without a restart", async () => {
  await using agent = await startAgent();
  const token = async (...args: string[]) => {
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "main.ts", "token", ...args, "--storage", agent.storage, "--json"],
      cwd: join(import.meta.dirname ?? ".", ".."),
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
    return JSON.parse(new TextDecoder().decode(result.stdout));
  };
  const { token: observer } = await token("add", "laptop", "--role", "observer");
  await using controller = await agent.connect();
  await using watcher = await Client.open(withToken(`ws://127.0.0.1:${agent.port}/ws`, observer));
  const refused = await watcher.request({
    command: "process",
    id: 1,
    params: { object: "sport_client", method: "StandUp" },
  });
  assert.equal(refused.code, "FORBIDDEN");
  const status = await watcher.request({ command: "status", id: 2 });
  assert.deepEqual(status.data.gateway.connections.map((c: { role: string }) => c.role), [
    "controller",
    "observer",
  ]);
  assert.equal((await controller.call(3, "sport_client", "StandUp")).callback.data.ok, true);
  await token("revoke", "laptop");
  const after = await handshake(agent.port, withToken("/ws", observer));
  assert.equal(after.status, 401);
  const shown = await token("show");
  assert.ok(shown.every((i: { name: string }) => i.name !== "laptop"));
});

Deno.test("a session is resumed only by the identity that made it, and its results wait for it", async () => {
  await using agent = await startAgent();
  const alice = await agent.connect("/ws?session=alice");
  await alice.deploy({
    "main.py":
      "import time\nclass Slow:\n    def wait(self):\n        time.sleep(0.5)\n        return 'done'\n",
  });
  alice.send({ command: "process", id: "w", params: { object: "Slow", method: "wait" } });
  await alice.reply("w");
  await alice.close();
  const tokenResult = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "main.ts",
      "token",
      "add",
      "mallory",
      "--role",
      "operator",
      "--storage",
      agent.storage,
      "--json",
    ],
    cwd: join(import.meta.dirname ?? ".", ".."),
    stdout: "piped",
  }).output();
  const mallory = JSON.parse(new TextDecoder().decode(tokenResult.stdout)).token;
  const stolen = await handshake(agent.port, withToken("/ws?session=alice", mallory));
  assert.equal(stolen.status, 403);
  assert.equal(JSON.parse(stolen.body).code, "SESSION_FORBIDDEN");
  await delay(700);
  await using back = await agent.connect("/ws?session=alice");
  const result = await back.callback("w");
  assert.equal(result.data.result, "done", "Alice still gets her result");
});

Deno.test("a silent controller does not hold the slot: another operator takes over", async () => {
  await using agent = await startAgent();
  await using silent = await agent.connect();
  const second = await handshake(agent.port, withToken("/ws", agent.token));
  assert.equal(second.status, 101, "the handshake itself is fine…");
  await using busy = await agent.connect();
  const refusedFirst = await busy.next();
  assert.equal(refusedFirst.code, "BUSY", "…but the slot is taken without takeover");
  await using taker = await agent.connect("/ws?takeover=1");
  const closed = await silent.closed;
  assert.equal(closed.code, 4003);
  assert.match(closed.reason, /taken over by env/);
  assert.equal((await taker.call(1, "sport_client", "StandUp")).callback.data.ok, true);
  await agent.waitForLog(/Running the safety stop \(.?taken over by env.?\)/);
  const status = await taker.request({ command: "status", id: 2 });
  assert.equal(status.data.gateway.you.role, "controller");
});

Deno.test("a flood of half-open connections under a low fd limit never ends the agent", async () => {
  await using agent = await startAgent({
    prefix: ["prlimit", "--nofile=256:256"],
    config: "gateway:\n  header_timeout_s: 1\n  max_unauthenticated: 64\n" +
      "  max_unauthenticated_per_address: 64\n",
  });
  await using controller = await agent.connect();
  const flood: Deno.TcpConn[] = [];
  for (let i = 0; i < 600; i++) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: agent.port });
      await conn.write(new TextEncoder().encode("GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
      flood.push(conn);
    } catch {
      break;
    }
  }
  try {
    // The controller is served all along.
    for (let i = 0; i < 5; i++) {
      assert.equal((await controller.call(i, "sport_client", "GetState")).callback.data.ok, true);
    }
  } finally {
    for (const conn of flood) conn.close();
  }
  await delay(1500);
  await using later = await Client.open(agent.url.replace("/ws?", "/ws?observe=1&"));
  const status = await later.request({ command: "status", id: "s" });
  assert.equal(status.status, "success", "new connections are served again");
  assert.ok((agent.log.match(/Refusing connections/g) ?? []).length <= 3, "logged once per burst");
  assert.equal(
    await Promise.race([agent.exited.then(() => "exited"), delay(10).then(() => "up")]),
    "up",
  );
});

Deno.test("a first start without any token makes one and prints the URL with it once", async () => {
  const storage = await Deno.makeTempDir({ prefix: "robot-agent-first-" });
  try {
    let token: string;
    {
      await using agent = await startAgent({ token: null, storage });
      const pattern = /ws:\/\/[^\s]+\/ws\?token=(ra_[A-Za-z0-9_-]+)/;
      for (let i = 0; i < 100 && !pattern.test(agent.stdout); i++) await delay(20);
      const match = pattern.exec(agent.stdout);
      assert.ok(match, agent.stdout);
      token = match[1];
      assert.doesNotMatch(agent.log, new RegExp(token));
      await using client = await Client.open(withToken(`ws://127.0.0.1:${agent.port}/ws`, token));
      assert.equal((await client.request({ command: "status", id: 1 })).status, "success");
    }
    await using again = await startAgent({ token: null, storage });
    await delay(300);
    assert.doesNotMatch(again.stdout, /First start/);
    await using client = await Client.open(withToken(`ws://127.0.0.1:${again.port}/ws`, token));
    assert.equal((await client.request({ command: "status", id: 1 })).status, "success");
  } finally {
    await Deno.remove(storage, { recursive: true });
  }
});

Deno.test("auth.required: false is refused unless the agent listens on loopback alone", async () => {
  await assert.rejects(
    startAgent({ args: ["--host", "0.0.0.0"], config: "auth:\n  required: false\n" }),
    /auth.required: false is accepted only when gateway.host is loopback/,
  );
  await using agent = await startAgent({ token: null, config: "auth:\n  required: false\n" });
  await using client = await Client.open(`ws://127.0.0.1:${agent.port}/ws`);
  assert.equal((await client.call(1, "sport_client", "StandUp")).callback.data.ok, true);
});

Deno.test("results over session_max_bytes reach their owner as their outcome, never silently lost", async () => {
  await using agent = await startAgent({ config: "gateway:\n  session_max_bytes: 300000\n" });
  const client = await agent.connect("/ws?session=big");
  await client.deploy({
    "main.py": "import time\nclass Big:\n    def blob(self, n):\n        time.sleep(0.3)\n" +
      "        return 'x' * 100000\n",
  });
  for (let i = 0; i < 6; i++) {
    client.send({
      command: "process",
      id: i,
      params: { object: "Big", method: "blob", args: { n: i } },
    });
    await client.reply(i);
  }
  await client.close();
  await delay(2500);
  await using back = await agent.connect("/ws?session=big");
  const outcomes = [];
  for (let i = 0; i < 6; i++) outcomes.push(await back.callback(i));
  const summarized = outcomes.filter((m) => m.data.dropped === "session_max_bytes");
  assert.ok(summarized.length >= 3, `at least three cut to their outcome: ${summarized.length}`);
  for (const m of summarized) {
    assert.equal(m.data.ok, true);
    assert.ok(m.data.bytes > 100000);
    assert.equal(m.data.result, undefined);
  }
  assert.equal(outcomes.at(-1)!.data.result.length, 100000, "the newest are kept whole");
});

Deno.test("deployed code never sees the operator token the agent was started with", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  await client.deploy({
    "main.py": "import os\nclass Env:\n    def token(self):\n" +
      "        return os.environ.get('ROBOT_AGENT_TOKEN')\n",
  });
  const { callback } = await client.call(1, "Env", "token");
  assert.equal(callback.data.ok, true);
  assert.equal(callback.data.result, null);
});
