/** End-to-end: the running project describes itself, and typed arguments are checked early. */
import assert from "node:assert/strict";
import { startAgent } from "./_agent.ts";

Deno.test("describe lists every sport-client method with typed parameters and docstrings", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  const described = await client.request({ command: "describe", id: "d" });
  assert.equal(described.status, "success", described.message);
  const sport = described.data.objects.sport_client;
  assert.ok(sport, Object.keys(described.data.objects).join(", "));
  const methods = Object.keys(sport.methods);
  for (const name of ["Move", "StandUp", "StopMove", "Euler", "SpeedLevel", "GetState", "Hello"]) {
    assert.ok(methods.includes(name), `${name} in ${methods}`);
  }
  for (
    const [name, method] of Object.entries(sport.methods) as [string, { doc: string | null }][]
  ) {
    assert.ok(method.doc, `${name} has a docstring`);
  }
  const move = sport.methods.Move;
  assert.deepEqual(
    move.params.map((
      p: { name: string; annotation: string; schema: unknown },
    ) => [p.name, p.annotation, p.schema]),
    [["vx", "float", { type: "number" }], ["vy", "float", { type: "number" }], ["vyaw", "float", {
      type: "number",
    }]],
  );
  assert.match(move.doc, /m\/s/);
  assert.deepEqual(sport.methods.SpeedLevel.params[0].schema, { enum: [-1, 0, 1] });
  assert.equal(sport.methods.GetState.params[0].annotation, "Optional[List[str]]");
  assert.match(described.data.hash, /^[0-9a-f]{64}$/);
  const one = await client.request({
    command: "describe",
    id: "o",
    params: { object: "sport_client" },
  });
  assert.deepEqual(Object.keys(one.data.objects), ["sport_client"]);
});

Deno.test("a wrong-typed argument is refused BAD_ARGS before it reaches Python, naming the field", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  const refused = await client.request({
    command: "process",
    id: 1,
    params: { object: "sport_client", method: "Move", args: { vx: "fast", vy: 0, vyaw: 0 } },
  });
  assert.equal(refused.status, "error");
  assert.equal(refused.code, "BAD_ARGS");
  assert.equal(refused.data.pointer, "/params/args/vx");
  assert.match(refused.message, /expected number, got string/);
  const missing = await client.request({
    command: "process",
    id: 2,
    params: { object: "sport_client", method: "Move", args: { vx: 0.2 } },
  });
  assert.equal(missing.data.pointer, "/params/args/vy");
  const level = await client.request({
    command: "process",
    id: 3,
    params: { object: "sport_client", method: "SpeedLevel", args: { level: 5 } },
  });
  assert.equal(level.code, "BAD_ARGS");
  const status = await client.request({ command: "status", id: "s" });
  assert.equal(status.data.calls.accepted, 0, "none of them reached the project");
  assert.equal((await client.call(4, "sport_client", "StandUp")).callback.data.ok, true);
});

Deno.test("the description's hash changes with each deployed version", async () => {
  await using agent = await startAgent();
  await using client = await agent.connect();
  const first = (await client.request({ command: "describe", id: 1 })).data.hash;
  await client.deploy({
    "main.py": "class Arm:\n    def wave(self, times: int = 1) -> list:\n        return []\n",
  });
  const second = (await client.request({ command: "describe", id: 2 })).data;
  assert.notEqual(second.hash, first);
  assert.deepEqual(second.objects.Arm.methods.wave.params[0], {
    name: "times",
    kind: "positional_or_keyword",
    required: false,
    annotation: "int",
    schema: { type: "integer" },
    default: 1,
  });
});
