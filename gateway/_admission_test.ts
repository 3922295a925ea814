import assert from "node:assert/strict";
import { validateConfig } from "../config.ts";
import { ErrorCode } from "../errors.ts";
import { type AdmissionContext, admit, hostAllowed, presentedToken } from "./_admission.ts";
import { FailureLimiter } from "./_rate_limit.ts";
import { TokenStore } from "./_tokens.ts";

const PEER = { hostname: "192.0.2.7", port: 5000 };

async function withContext(
  test: (
    context: AdmissionContext,
    tokens: { operator: string; observer: string },
  ) => Promise<void>,
  gateway: Record<string, unknown> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "admission-" });
  try {
    const store = await TokenStore.open(`${dir}/auth`);
    const tokens = {
      operator: await store.add("alice", "operator"),
      observer: await store.add("laptop", "observer"),
    };
    const config = validateConfig({ gateway, auth: { max_failures: 3, block_s: 30 } });
    const owners = new Map([["alice-session", "alice"]]);
    await test({
      config,
      tokens: store,
      limiter: new FailureLimiter({ maxFailures: 3, windowMs: 60_000, blockMs: 30_000 }),
      tls: false,
      sessionOwner: (session) => owners.get(session),
    }, tokens);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function handshake(path: string, headers: Record<string, string> = {}): Request {
  return new Request(`http://192.0.2.1:8000${path}`, {
    headers: { host: "192.0.2.1:8000", upgrade: "websocket", ...headers },
  });
}

async function code(result: Response | unknown): Promise<[number, string] | "admitted"> {
  if (!(result instanceof Response)) return "admitted";
  return [result.status, (await result.json()).code];
}

Deno.test("admit takes the token from the query, a bearer header or a subprotocol", async () => {
  await withContext(async (context, { operator }) => {
    for (
      const request of [
        handshake(`/ws?token=${operator}`),
        handshake("/ws", { authorization: `Bearer ${operator}` }),
        handshake("/ws", { "sec-websocket-protocol": `robot-agent, bearer.${operator}` }),
      ]
    ) {
      const admitted = await admit(request, PEER, context);
      assert.ok(!(admitted instanceof Response), await code(admitted) as string);
      assert.deepEqual(admitted.identity, { name: "alice", role: "operator" });
    }
    const viaProtocol = await admit(
      handshake("/ws", { "sec-websocket-protocol": `robot-agent, bearer.${operator}` }),
      PEER,
      context,
    );
    assert.equal(!(viaProtocol instanceof Response) && viaProtocol.protocol, "robot-agent");
    assert.equal(presentedToken(handshake("/ws"), new URL("http://x/ws")), undefined);
  });
});

Deno.test("admit refuses a missing or wrong token 401, then blocks the address 429", async () => {
  await withContext(async (context) => {
    assert.deepEqual(await code(await admit(handshake("/ws"), PEER, context)), [
      401,
      "UNAUTHORIZED",
    ]);
    assert.deepEqual(await code(await admit(handshake("/ws?token=nope"), PEER, context)), [
      401,
      "UNAUTHORIZED",
    ]);
    await admit(handshake("/ws?token=nope"), PEER, context);
    const blocked = await admit(handshake("/ws"), PEER, context);
    assert.ok(blocked instanceof Response);
    assert.equal(blocked.headers.get("retry-after"), "30");
    assert.deepEqual(await code(blocked), [429, ErrorCode.RATE_LIMITED]);
    const other = await admit(handshake("/ws"), { hostname: "192.0.2.8", port: 1 }, context);
    assert.deepEqual(await code(other), [401, "UNAUTHORIZED"], "other addresses are not blocked");
  });
});

Deno.test("admit refuses foreign origins and rebinding hosts 403 before the token is checked", async () => {
  await withContext(async (context, { operator }) => {
    for (const origin of ["http://evil.example", "null", "http://192.0.2.1:9999"]) {
      const refused = await admit(handshake(`/ws?token=${operator}`, { origin }), PEER, context);
      assert.deepEqual(await code(refused), [403, "FORBIDDEN"], origin);
    }
    const own = await admit(
      handshake(`/ws?token=${operator}`, { origin: "http://192.0.2.1:8000" }),
      PEER,
      context,
    );
    assert.equal(await code(own), "admitted");
    const rebound = await admit(
      handshake(`/ws?token=${operator}`, { host: "attacker.example:8000" }),
      PEER,
      context,
    );
    assert.deepEqual(await code(rebound), [403, "FORBIDDEN"]);
  });
});

Deno.test("admit lets configured origins and hosts in", async () => {
  await withContext(async (context, { operator }) => {
    const admitted = await admit(
      handshake(`/ws?token=${operator}`, { host: "go2.local:8000", origin: "https://ops.example" }),
      PEER,
      context,
    );
    assert.equal(await code(admitted), "admitted");
  }, { allowed_hosts: ["go2.local"], allowed_origins: ["https://ops.example"] });
});

Deno.test("admit binds sessions to their identity and makes observers of observer tokens", async () => {
  await withContext(async (context, { operator, observer }) => {
    const stolen = await admit(
      handshake(`/ws?token=${observer}&session=alice-session`),
      PEER,
      context,
    );
    assert.deepEqual(await code(stolen), [403, "SESSION_FORBIDDEN"]);
    const own = await admit(
      handshake(`/ws?token=${operator}&session=alice-session`),
      PEER,
      context,
    );
    assert.ok(!(own instanceof Response) && own.session === "alice-session");
    const watcher = await admit(handshake(`/ws?token=${observer}`), PEER, context);
    assert.ok(!(watcher instanceof Response) && watcher.observe && !watcher.takeover);
    const taking = await admit(handshake(`/ws?token=${operator}&takeover=1`), PEER, context);
    assert.ok(!(taking instanceof Response) && taking.takeover);
  });
});

Deno.test("hostAllowed takes IP literals, localhost and listed names only", () => {
  for (const host of ["127.0.0.1:8000", "[::1]:8000", "localhost", "10.0.0.5", "[fe80::1]"]) {
    assert.equal(hostAllowed(host, []), true, host);
  }
  for (const host of ["evil.example", "go2.local:8000", "", "127.0.0.1.evil.example"]) {
    assert.equal(hostAllowed(host, []), false, host);
  }
  assert.equal(hostAllowed("go2.local:8000", ["go2.local"]), true);
  assert.equal(hostAllowed("dog.lab.local", ["*.lab.local"]), true);
  assert.equal(hostAllowed(null, []), false);
});
