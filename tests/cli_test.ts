/**
 * The operator's command line end to end: `robot-agent deploy|start|call|status|rollback`
 * run as subprocesses, as a user runs them, against a real agent.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { type Agent, makeZip, startAgent } from "./_agent.ts";
import { TcpProxy } from "./_proxy.ts";

const ROOT = join(import.meta.dirname ?? ".", "..");
const MAIN = join(ROOT, "main.ts");

/** A project whose methods show what was deployed and how calls behave. */
const PROJECT = `import os
import time

class Arm:
    def wave(self, times=1):
        push_message("waving", {"times": times})
        return ["wave"] * times

    def echo(self, text):
        return text

    def fail(self):
        raise ValueError("arm is folded")

    def files(self):
        found = []
        for top, dirs, names in os.walk("."):
            found += [os.path.relpath(os.path.join(top, n), ".") for n in names]
        return sorted(found)

    def slow(self, seconds=60):
        print("slow started", flush=True)
        try:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                time.sleep(0.02)
        finally:
            print("slow interrupted", flush=True)

arm = Arm()
`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `robot-agent ARGS…` from source, as `deno task cli` does, without a terminal. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", MAIN, ...args],
    env: { NO_COLOR: "1", ...env },
    cwd: ROOT,
    stdin: "null",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

/** A project folder in a temporary directory. */
async function projectFolder(files: Record<string, string | Uint8Array>): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "robot-agent-cli-test-" });
  for (const [path, content] of Object.entries(files)) {
    await Deno.mkdir(join(dir, path, ".."), { recursive: true });
    if (typeof content === "string") await Deno.writeTextFile(join(dir, path), content);
    else await Deno.writeFile(join(dir, path), content);
  }
  return dir;
}

/** A project with `size` bytes of incompressible data, for uploads of many chunks. */
function bigProject(size: number): Record<string, string | Uint8Array> {
  const data = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) {
    crypto.getRandomValues(data.subarray(at, Math.min(size, at + 65536)));
  }
  return { "main.py": PROJECT, "data.bin": data };
}

async function deployed(agent: Agent): Promise<void> {
  const dir = await projectFolder({ "main.py": PROJECT });
  try {
    const run = await cli(["deploy", dir, "--start", "--url", agent.url]);
    assert.equal(run.code, 0, run.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("robot-agent deploy zips a folder without what .robotignore lists, with progress lines", async () => {
  await using agent = await startAgent();
  const dir = await projectFolder({
    ...bigProject(600_000),
    "lib/helper.py": "X = 1\n",
    "logs/run.log": "not deployed",
    "notes.tmp": "not deployed",
    "__pycache__/main.cpython-311.pyc": "not deployed",
    ".robotignore": "# local files\nlogs/\n*.tmp\n",
  });
  try {
    const run = await cli(["deploy", dir, "--start", "--chunk-size", "64k", "--url", agent.url]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /Zipped 3 files .* 4 left out\) from /);
    const percents = [...run.stderr.matchAll(/^upload +(\d+)% /gm)].map((m) => Number(m[1]));
    assert.ok(percents.length >= 5, run.stderr);
    assert.deepEqual(percents, [...percents].sort((a, b) => a - b));
    assert.match(run.stderr, /^upload complete, \d+ KiB.*; deploying$/m);
    assert.match(run.stdout, /^Deployed version 1 \(python, main\.py, 3 files, /m);
    assert.match(run.stdout, /^Started version 1 /m);
    assert.match(run.stdout, /^ {2}arm: +echo, fail, files, slow, wave$/m);
    const files = await cli(["call", "arm.files", "--json", "--url", agent.url]);
    assert.deepEqual(JSON.parse(files.stdout).result, ["data.bin", "lib/helper.py", "main.py"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("robot-agent deploy resumes where the agent stands after the link drops", async () => {
  await using agent = await startAgent();
  await using proxy = TcpProxy.start(agent.port, { cutFirstAfter: 400_000 });
  const dir = await projectFolder(bigProject(1_500_000));
  try {
    const run = await cli([
      "deploy",
      dir,
      "--chunk-size",
      "64k",
      "--url",
      proxy.rewrite(agent.url),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /^upload interrupted at .*: connection lost, reconnecting$/m);
    const resumed = /^upload resumed at (\d+) KiB of 1\.4 MiB/m.exec(run.stderr);
    assert.ok(resumed, run.stderr);
    assert.ok(Number(resumed[1]) > 0);
    assert.match(run.stdout, /^Deployed version 1 /m);
    assert.ok(proxy.connections >= 2);
    assert.equal(proxy.cuts >= 1, true);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("robot-agent deploy takes a .zip file, and --json prints the outcome", async () => {
  await using agent = await startAgent();
  const dir = await Deno.makeTempDir();
  try {
    const zip = join(dir, "project.zip");
    await Deno.writeFile(zip, await makeZip({ "main.py": PROJECT }));
    const run = await cli(["deploy", zip, "--start", "--json", "--url", agent.url]);
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout);
    assert.equal(out.deploy.version, 1);
    assert.equal(out.deploy.type, "python");
    assert.deepEqual(out.start.objects.arm, ["echo", "fail", "files", "slow", "wave"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("robot-agent deploy draws a progress bar on a terminal", async () => {
  const script = await new Deno.Command("sh", { args: ["-c", "command -v script"] }).output();
  if (!script.success) return;
  await using agent = await startAgent();
  const dir = await projectFolder(bigProject(300_000));
  try {
    const command = [Deno.execPath(), "run", "--quiet", "-A", MAIN, "deploy", dir, "--url"]
      .map((word) => `'${word}'`).join(" ") + ` '${agent.url}' --chunk-size 32k`;
    const output = await new Deno.Command("script", {
      args: ["-qec", command, "/dev/null"],
      env: { NO_COLOR: "1" },
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, text);
    assert.match(text, /\[#{24}\] 100% {2}upload complete/);
    assert.ok(text.includes("\x1b[1A\x1b[2K"), text);
    assert.match(text, /Deployed version 1 /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("robot-agent call passes NAME=VALUE arguments and prints the result", async () => {
  await using agent = await startAgent();
  await deployed(agent);
  const echo = await cli(["call", "arm.echo", "text=hello world", "--url", agent.url]);
  assert.equal(echo.code, 0, echo.stderr);
  assert.equal(echo.stdout, "hello world\n");
  const wave = await cli(["call", "arm.wave", "times=2", "--url", agent.url]);
  assert.deepEqual(JSON.parse(wave.stdout), ["wave", "wave"]);
  const typed = await cli([
    "call",
    "arm.echo",
    "--args",
    '{"text": [1, "2", null]}',
    "--json",
    "--url",
    agent.url,
  ]);
  assert.deepEqual(JSON.parse(typed.stdout), { result: [1, "2", null] });
});

Deno.test("robot-agent call of a failing method exits 1 with the code and the traceback", async () => {
  await using agent = await startAgent();
  await deployed(agent);
  const raised = await cli(["call", "arm.fail", "--url", agent.url]);
  assert.equal(raised.code, 1);
  assert.match(raised.stderr, /Traceback[\s\S]*ValueError: arm is folded/);
  assert.match(
    raised.stderr,
    /^robot-agent: arm\.fail failed: EXCEPTION \(ValueError\): arm is folded$/m,
  );
  const badArgs = await cli(["call", "arm.echo", "nope=1", "--json", "--url", agent.url]);
  assert.equal(badArgs.code, 1);
  assert.equal(JSON.parse(badArgs.stdout).error.code, "BAD_ARGS");
  const unknown = await cli(["call", "arm.fly", "--url", agent.url]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^robot-agent: arm\.fly failed: UNKNOWN_METHOD: /m);
  const usage = await cli(["call", "arm", "--url", agent.url]);
  assert.equal(usage.code, 2);
});

Deno.test("robot-agent call cancels the call on Ctrl-C", async () => {
  await using agent = await startAgent();
  await deployed(agent);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "-A", MAIN, "call", "arm.slow", "--url", agent.url],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  await agent.waitForLog("slow started");
  child.kill("SIGINT");
  const result = await output;
  assert.equal(result.code, 1);
  assert.match(new TextDecoder().decode(result.stderr), /arm\.slow cancelled/);
  // The safety stop does not end calls: the project saw the cancel.
  await agent.waitForLog("slow interrupted");
});

Deno.test("robot-agent status prints the project, and --json the whole report", async () => {
  await using agent = await startAgent();
  await deployed(agent);
  const text = await cli(["status", "--url", agent.url]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /^agent {4}0\.\d+\.\d+, up \d+ s$/m);
  assert.match(text.stdout, /^project {2}python version 1, running, pid \d+/m);
  const json = await cli(["status", "--json", "--url", agent.url]);
  const status = JSON.parse(json.stdout);
  assert.equal(status.project.version, 1);
  assert.equal(status.worker.state, "running");
});

Deno.test("robot-agent rollback and start: back to the previous version, then restarted", async () => {
  await using agent = await startAgent();
  const none = await cli(["rollback", "--url", agent.url]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /^robot-agent: NO_PREVIOUS_VERSION: /m);
  await deployed(agent);
  const back = await cli(["rollback", "--url", agent.url]);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /^Rolled back from version 1 to 0\b/m);
  assert.match(back.stdout, /^ {2}sport_client: .*StandUp/m);
  const started = await cli(["start", "--json", "--url", agent.url]);
  assert.equal(started.code, 0, started.stderr);
  assert.equal(JSON.parse(started.stdout).version, 0);
});

Deno.test("robot-agent exits 3 when the agent is unreachable or refuses the token", async () => {
  await using agent = await startAgent();
  const refused = await cli(["status", "--url", agent.url.replace(/token=[^&]+/, "token=wrong")]);
  assert.equal(refused.code, 3);
  assert.match(refused.stderr, /UNAUTHORIZED/);
  assert.ok(!refused.stderr.includes("wrong"), refused.stderr);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const nobody = await cli(["status", "--json", "--url", `127.0.0.1:${port}`]);
  assert.equal(nobody.code, 3);
  assert.equal(JSON.parse(nobody.stdout).error.code, "UNREACHABLE");
});

Deno.test("robot-agent finds the agent through the environment and robots.yaml", async () => {
  await using agent = await startAgent();
  const home = await Deno.makeTempDir();
  try {
    const plain = `ws://127.0.0.1:${agent.port}/ws`;
    const fromEnv = await cli(["status", "--json"], {
      ROBOT_AGENT_URL: plain,
      ROBOT_AGENT_TOKEN: agent.token ?? "",
      HOME: home,
    });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    await Deno.mkdir(join(home, ".config/robot-agent"), { recursive: true });
    await Deno.writeTextFile(
      join(home, ".config/robot-agent/robots.yaml"),
      `robots:\n  go2:\n    url: ${plain}\n    token: ${agent.token}\n`,
      { mode: 0o600 },
    );
    const named = await cli(["status", "--robot", "go2", "--json"], { HOME: home });
    assert.equal(named.code, 0, named.stderr);
    assert.equal(JSON.parse(named.stdout).worker.state, "running");
    const unknown = await cli(["status", "--robot", "g1"], { HOME: home });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /Unknown robot "g1"/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("robot-agent's operator commands each print their usage for --help", async () => {
  for (const name of ["deploy", "start", "call", "status", "rollback"]) {
    const run = await cli([name, "--help"]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^Usage: robot-agent ${name}`));
    assert.match(run.stdout, /--url URL/);
  }
  const bad = await cli(["status", "--bogus"]);
  assert.equal(bad.code, 2);
});
