import assert from "node:assert/strict";
import { AgentConnectionError, AgentRequestError, RobotClient, RobotEvent } from "./mod.ts";

// deno-lint-ignore no-explicit-any
type Message = Record<string, any>;

/** What a fake agent does with one message on one socket. */
type Behaviour = (message: Message, socket: WebSocket, agent: FakeAgent) => void;

/** A WebSocket server that answers `status` (the handshake) and lets a test script the rest. */
class FakeAgent implements AsyncDisposable {
  readonly urls: URL[] = [];
  readonly received: Message[] = [];
  readonly sockets = new Set<WebSocket>();
  #closed: Promise<void>[] = [];
  #server: Deno.HttpServer<Deno.NetAddr>;
  /** Refuse each upgrade with this HTTP status. */
  httpStatus: number | undefined;
  /** Refuse each connection as a busy agent does. */
  busy = false;

  constructor(behaviour: Behaviour = () => {}) {
    this.#server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
      this.urls.push(new URL(request.url));
      if (this.httpStatus) return new Response("refused", { status: this.httpStatus });
      const { socket, response } = Deno.upgradeWebSocket(request);
      const closed = Promise.withResolvers<void>();
      this.#closed.push(closed.promise);
      socket.onopen = () => {
        this.sockets.add(socket);
        if (!this.busy) return;
        socket.send(JSON.stringify({ status: "error", code: "BUSY", message: "busy", data: {} }));
        socket.close(4001, "another client is connected");
      };
      socket.onclose = () => {
        this.sockets.delete(socket);
        closed.resolve();
      };
      socket.onmessage = (event) => {
        if (this.busy || typeof event.data !== "string") return;
        const message = JSON.parse(event.data);
        this.received.push(message);
        if (message.command === "status" && String(message.id).startsWith("hello-")) {
          socket.send(JSON.stringify({
            status: "success",
            id: message.id,
            data: { agent: { version: "fake" } },
          }));
          return;
        }
        behaviour(message, socket, this);
      };
      return response;
    });
  }

  get url(): string {
    return `ws://127.0.0.1:${this.#server.addr.port}/ws`;
  }

  /** Drops every connection, as a lost link would. */
  dropAll(): void {
    for (const socket of this.sockets) socket.close(1011, "dropped");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const socket of this.sockets) socket.close();
    await Promise.all(this.#closed);
    await this.#server.shutdown();
  }
}

function send(socket: WebSocket, message: Message): void {
  socket.send(JSON.stringify(message));
}

Deno.test("RobotClient.connect sends the token and a session in the URL", async () => {
  await using agent = new FakeAgent();
  await using robot = await RobotClient.connect(agent.url, { token: "ra_secret" });
  assert.equal(agent.urls[0].searchParams.get("token"), "ra_secret");
  assert.equal(agent.urls[0].searchParams.get("session"), robot.session);
  assert.equal(robot.agentVersion, "fake");
  assert.ok(!robot.url.includes("ra_secret"), robot.url);
});

Deno.test("RobotClient.request matches replies to requests by id, whatever their order", async () => {
  const held: Message[] = [];
  await using agent = new FakeAgent((message, socket) => {
    held.push(message);
    if (held.length < 2) return;
    for (const m of held.reverse()) send(socket, { status: "success", id: m.id, data: m.params });
  });
  await using robot = await RobotClient.connect(agent.url);
  const [first, second] = await Promise.all([
    robot.request("echo", { n: 1 }),
    robot.request("echo", { n: 2 }),
  ]);
  assert.deepEqual([first, second], [{ n: 1 }, { n: 2 }]);
});

Deno.test("RobotClient.request rejects with the agent's code, message and data", async () => {
  await using agent = new FakeAgent((message, socket) =>
    send(socket, {
      status: "error",
      id: message.id,
      code: "NO_PREVIOUS_VERSION",
      message: "Cannot roll back: nothing precedes it",
      data: { current: 1 },
    })
  );
  await using robot = await RobotClient.connect(agent.url);
  const error = await robot.rollback().catch((e) => e);
  assert.ok(error instanceof AgentRequestError);
  assert.equal(error.code, "NO_PREVIOUS_VERSION");
  assert.equal(error.message, "Cannot roll back: nothing precedes it");
  assert.deepEqual(error.data, { current: 1 });
  assert.equal(error.command, "rollback");
});

Deno.test("RobotClient.call resolves with the callback's result after the ACK", async () => {
  await using agent = new FakeAgent((message, socket) => {
    const { object, method, args } = message.params;
    send(socket, { status: "success", id: message.id, data: { object, method } });
    send(socket, { status: "callback", id: message.id, data: { ok: true, result: args.x * 2 } });
  });
  await using robot = await RobotClient.connect(agent.url);
  assert.equal(await robot.call("calc", "double", { x: 21 }), 42);
});

Deno.test("RobotClient.call rejects with the callback's error code and traceback", async () => {
  await using agent = new FakeAgent((message, socket) => {
    send(socket, { status: "success", id: message.id, data: {} });
    const error = { code: "EXCEPTION", message: "boom", type: "ValueError", traceback: "Tb" };
    send(socket, { status: "callback", id: message.id, data: { ok: false, error } });
  });
  await using robot = await RobotClient.connect(agent.url);
  const error = await robot.call("a", "b").catch((e) => e);
  assert.ok(error instanceof AgentRequestError);
  assert.equal(error.code, "EXCEPTION");
  assert.equal(error.data.type, "ValueError");
  assert.equal(error.data.traceback, "Tb");
});

Deno.test("RobotClient.call sends cancel for the call when its signal aborts", async () => {
  await using agent = new FakeAgent((message, socket) => {
    if (message.command === "process") {
      send(socket, { status: "success", id: message.id, data: {} });
    }
    if (message.command === "cancel") send(socket, { status: "success", id: message.id, data: {} });
  });
  await using robot = await RobotClient.connect(agent.url);
  const controller = new AbortController();
  const call = robot.call("arm", "slow", {}, { signal: controller.signal });
  while (!agent.received.some((m) => m.command === "process")) await delay(5);
  controller.abort(new Error("stop"));
  await assert.rejects(call, /stop/);
  while (!agent.received.some((m) => m.command === "cancel")) await delay(5);
  const process = agent.received.find((m) => m.command === "process")!;
  const cancel = agent.received.find((m) => m.command === "cancel")!;
  assert.equal(cancel.params.call_id, process.id);
});

Deno.test("RobotClient dispatches events as RobotEvents, and events() keeps them from its call on", async () => {
  await using agent = new FakeAgent((message, socket) => {
    send(socket, { status: "callback", event: "waving", data: { times: 2 } });
    send(socket, { status: "callback", event: "other", data: {} });
    send(socket, { status: "success", id: message.id, data: {} });
  });
  await using robot = await RobotClient.connect(agent.url);
  const seen: string[] = [];
  robot.addEventListener("event", (e) => seen.push((e as RobotEvent).name));
  // Events are collected from the call on, before the first next().
  const iterator = robot.events({ names: ["waving"] });
  await robot.request("go");
  const first = await iterator.next();
  await iterator.return?.();
  assert.deepEqual(seen, ["waving", "other"]);
  assert.ok(first.value instanceof RobotEvent);
  assert.deepEqual(first.value.data, { times: 2 });
});

Deno.test("RobotClient.connect rejects BUSY when the agent refuses a second client", async () => {
  await using agent = new FakeAgent();
  agent.busy = true;
  const error = await RobotClient.connect(agent.url).catch((e) => e);
  assert.ok(error instanceof AgentConnectionError, String(error));
  assert.equal(error.code, "BUSY");
});

Deno.test("RobotClient.connect rejects UNAUTHORIZED when the handshake gets HTTP 401", async () => {
  await using agent = new FakeAgent();
  agent.httpStatus = 401;
  const error = await RobotClient.connect(agent.url, { token: "wrong" }).catch((e) => e);
  assert.ok(error instanceof AgentConnectionError, String(error));
  assert.equal(error.code, "UNAUTHORIZED");
  assert.ok(!error.message.includes("wrong"), error.message);
});

Deno.test("RobotClient.connect rejects UNREACHABLE when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const error = await RobotClient.connect(`127.0.0.1:${port}`).catch((e) => e);
  assert.ok(error instanceof AgentConnectionError, String(error));
  assert.equal(error.code, "UNREACHABLE");
});

Deno.test("RobotClient reconnects under the same session and gets the reply kept for it", async () => {
  let pending: Message | undefined;
  await using agent = new FakeAgent((message) => {
    pending = message;
  });
  await using robot = await RobotClient.connect(agent.url, {
    reconnect: { firstDelayMs: 10 },
  });
  const reply = robot.request("slow");
  while (!pending) await delay(5);
  const reconnected = new Promise((resolve) => robot.addEventListener("reconnect", resolve));
  agent.dropAll();
  await reconnected;
  assert.equal(agent.urls.length, 2);
  assert.equal(agent.urls[1].searchParams.get("session"), robot.session);
  // What a session replays: the reply to a request sent before the drop.
  for (const socket of agent.sockets) send(socket, { status: "success", id: pending.id, data: 7 });
  assert.equal(await reply, 7);
});

Deno.test("RobotClient keeps reconnecting while the agent answers BUSY, then resumes", async () => {
  await using agent = new FakeAgent((message, socket) =>
    send(socket, { status: "success", id: message.id, data: "answered" })
  );
  await using robot = await RobotClient.connect(agent.url, { reconnect: { firstDelayMs: 5 } });
  // The agent has not yet noticed the old link is dead: it refuses the new one for a while.
  agent.busy = true;
  agent.dropAll();
  while (agent.urls.length < 4) await delay(5);
  agent.busy = false;
  assert.equal(await robot.request("after"), "answered");
  assert.equal(robot.state, "open");
});

Deno.test("RobotClient queues requests made while reconnecting and sends them after", async () => {
  await using agent = new FakeAgent((message, socket) =>
    send(socket, { status: "success", id: message.id, data: message.params })
  );
  await using robot = await RobotClient.connect(agent.url, { reconnect: { firstDelayMs: 50 } });
  const disconnected = new Promise((resolve) => robot.addEventListener("disconnect", resolve));
  agent.dropAll();
  await disconnected;
  assert.equal(robot.state, "reconnecting");
  assert.deepEqual(await robot.request("echo", { queued: true }), { queued: true });
});

Deno.test("RobotClient without reconnect rejects waiting requests when the link drops", async () => {
  await using agent = new FakeAgent(() => {});
  await using robot = await RobotClient.connect(agent.url, { reconnect: false });
  const reply = robot.request("never").catch((e) => e);
  agent.dropAll();
  const error = await reply;
  assert.ok(error instanceof AgentConnectionError);
  assert.equal(error.code, "CLOSED");
  assert.equal(robot.state, "closed");
});

Deno.test("RobotClient.close rejects waiting requests with CLOSED", async () => {
  await using agent = new FakeAgent(() => {});
  const robot = await RobotClient.connect(agent.url);
  const reply = robot.request("never").catch((e) => e);
  await robot.close();
  const error = await reply;
  assert.ok(error instanceof AgentConnectionError);
  assert.equal(error.code, "CLOSED");
  await assert.rejects(robot.request("after"), AgentConnectionError);
});

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
