import assert from "node:assert/strict";
import { join } from "node:path";
import { type CliContext, CliError } from "./_command.ts";
import { resolveTarget } from "./_connect.ts";

function context(env: Record<string, string>, errors: string[] = []): CliContext {
  return {
    version: "test",
    out: () => {},
    err: (text) => errors.push(text),
    env: (name) => env[name],
    interactive: false,
  };
}

async function withRobots(text: string, work: (home: string) => Promise<void>): Promise<void> {
  const home = await Deno.makeTempDir({ prefix: "robots-test-" });
  try {
    await Deno.mkdir(join(home, ".config/robot-agent"), { recursive: true });
    await Deno.writeTextFile(join(home, ".config/robot-agent/robots.yaml"), text, { mode: 0o600 });
    await work(home);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
}

const ROBOTS = `default: go2
robots:
  go2:
    url: ws://10.0.0.2:8000/ws
    token: ra_go2
  g1:
    url: 10.0.0.3
`;

Deno.test("resolveTarget takes --url and --token first, then the environment", async () => {
  const ctx = context({ ROBOT_AGENT_URL: "env-host", ROBOT_AGENT_TOKEN: "ra_env" });
  assert.deepEqual(await resolveTarget(ctx, { url: "flag-host", token: "ra_flag" }), {
    url: "flag-host",
    token: "ra_flag",
  });
  assert.deepEqual(await resolveTarget(ctx, {}), { url: "env-host", token: "ra_env" });
});

Deno.test("resolveTarget reads --robot and the default robot from robots.yaml", async () => {
  await withRobots(ROBOTS, async (home) => {
    const ctx = context({ HOME: home, ROBOT_AGENT_TOKEN: "ra_env" });
    assert.deepEqual(await resolveTarget(ctx, {}), {
      url: "ws://10.0.0.2:8000/ws",
      token: "ra_go2",
    });
    assert.deepEqual(await resolveTarget(ctx, { robot: "g1" }), {
      url: "10.0.0.3",
      token: "ra_env",
    });
  });
});

Deno.test("resolveTarget refuses a robot robots.yaml does not name", async () => {
  await withRobots(ROBOTS, async (home) => {
    const error = await resolveTarget(context({ HOME: home }), { robot: "h1" }).catch((e) => e);
    assert.ok(error instanceof CliError);
    assert.match(error.message, /Unknown robot "h1".*go2, g1/);
  });
});

Deno.test("resolveTarget warns when robots.yaml holds tokens others can read", async () => {
  await withRobots(ROBOTS, async (home) => {
    await Deno.chmod(join(home, ".config/robot-agent/robots.yaml"), 0o644);
    const errors: string[] = [];
    await resolveTarget(context({ HOME: home }, errors), {});
    assert.match(errors.join("\n"), /others can read it; chmod 600/);
  });
});

Deno.test("resolveTarget falls back to the agent on this machine", async () => {
  const home = await Deno.makeTempDir();
  try {
    assert.deepEqual(await resolveTarget(context({ HOME: home }), {}), {
      url: "ws://127.0.0.1:8000/ws",
      token: undefined,
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
