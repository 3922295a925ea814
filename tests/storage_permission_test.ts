/**
 * The agent started as a user who cannot write its storage (what a hand-made install on the
 * robot used to produce) stops with one clear line and exit code 1, not a stack trace.
 *
 * It runs the real agent from source as `nobody`, so it needs root (for setpriv) and a copy
 * of Deno's npm cache that `nobody` can read.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const ROOT = join(import.meta.dirname ?? ".", "..");

async function run(program: string, args: string[], env?: Record<string, string>) {
  const output = await new Deno.Command(program, { args, env, cwd: ROOT, stdin: "null" }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test({
  name: "serve as a user who cannot write storage exits 1 with one line naming the user",
  ignore: Deno.uid() !== 0,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "robot-agent-perm-" });
    try {
      await Deno.chmod(dir, 0o755);
      const info = JSON.parse((await run(Deno.execPath(), ["info", "--json"])).stdout);
      const denoDir = join(dir, "deno");
      await Deno.mkdir(denoDir);
      const copied = await run("cp", ["-a", info.npmCache, join(denoDir, "npm")]);
      assert.equal(copied.code, 0, copied.stderr);
      assert.equal((await run("chmod", ["-R", "a+rX", denoDir])).code, 0);
      const storage = join(dir, "storage");
      await Deno.mkdir(storage, { mode: 0o700 });
      const deno = JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json")));
      const words = (deno.tasks.start as string).split(" ");
      const flags = words.slice(words.indexOf("deno") + 2, words.indexOf("main.ts"));
      const agent = await run("setpriv", [
        "--reuid=nobody",
        "--regid=nogroup",
        "--clear-groups",
        Deno.execPath(),
        "run",
        "--cached-only",
        ...flags,
        "main.ts",
        "--port",
        "0",
        "--storage",
        storage,
      ], { DENO_DIR: denoDir });
      assert.equal(agent.code, 1, agent.stderr);
      assert.equal(
        agent.stderr.trim(),
        `robot-agent: Cannot use storage ${storage}: permission denied ` +
          "(the agent runs as nobody; chown it or run install)",
      );
      assert.equal(agent.stdout, "");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
