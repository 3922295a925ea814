import assert from "node:assert/strict";
import { AgentError } from "../errors.ts";
import { newToken, TokenStore } from "./_tokens.ts";

async function withStore(
  test: (dir: string, store: TokenStore) => Promise<void>,
  envToken?: string,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "tokens-" });
  try {
    await test(`${dir}/auth`, await TokenStore.open(`${dir}/auth`, { envToken }));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("newToken makes distinct tokens of at least 128 random bits", () => {
  const tokens = new Set(Array.from({ length: 100 }, newToken));
  assert.equal(tokens.size, 100);
  for (const token of tokens) assert.match(token, /^ra_[A-Za-z0-9_-]{32}$/);
});

Deno.test("TokenStore keeps only digests, in files only the agent's user can read", async () => {
  await withStore(async (dir, store) => {
    const token = await store.add("laptop", "observer");
    const text = await Deno.readTextFile(`${dir}/tokens.json`);
    assert.ok(!text.includes(token), "the token itself is never written");
    assert.equal((await Deno.stat(`${dir}/tokens.json`)).mode! & 0o777, 0o600);
    assert.equal((await Deno.stat(dir)).mode! & 0o777, 0o700);
    assert.deepEqual(await store.verify(token), { name: "laptop", role: "observer" });
    assert.equal(await store.verify(token + "x"), undefined);
    assert.equal(await store.verify(""), undefined);
  });
});

Deno.test("TokenStore.rotate and revoke take effect in another store over the same folder", async () => {
  await withStore(async (dir, store) => {
    const first = await store.rotate("operator");
    const other = await TokenStore.open(dir);
    assert.equal((await other.verify(first))?.role, "operator");
    const second = await store.rotate("operator");
    assert.equal(await other.verify(first), undefined, "the old token stops working");
    assert.equal((await other.verify(second))?.name, "operator");
    await store.revoke("operator");
    assert.equal(await other.verify(second), undefined);
    assert.equal(other.hasOperator, false);
  });
});

Deno.test("TokenStore takes ROBOT_AGENT_TOKEN as the operator named env, never stored", async () => {
  await withStore(async (dir, store) => {
    assert.equal(store.hasOperator, true);
    assert.deepEqual(await store.verify("secret-from-systemd"), { name: "env", role: "operator" });
    assert.equal((await store.list())[0].name, "env");
    await assert.rejects(Deno.stat(`${dir}/tokens.json`), Deno.errors.NotFound);
  }, "secret-from-systemd");
});

Deno.test("TokenStore refuses bad, reserved and taken names, and unknown revokes", async () => {
  await withStore(async (_, store) => {
    await store.add("ci", "operator");
    for (const name of ["", "a b", "env", "../x", "ci"]) {
      await assert.rejects(store.add(name, "observer"), AgentError, name);
    }
    await assert.rejects(store.revoke("nobody"), /no identity "nobody" \(identities: ci\)/);
  });
});
