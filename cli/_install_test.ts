import assert from "node:assert/strict";
import { join } from "node:path";
import { loadConfig } from "../config.ts";
import type { CliContext } from "./_command.ts";
import { installCommand } from "./_install.ts";
import { serviceUnit, STORAGE_DIR, UNIT_PATH } from "./_service_unit.ts";

/** Runs `install ARGS…` in this process; resolves with the exit code and what it printed. */
async function install(args: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const ctx: CliContext = {
    version: "test",
    out: (text) => lines.push(text),
    err: (text) => lines.push(text),
    env: () => undefined,
    interactive: false,
  };
  const code = await installCommand.run(ctx, args);
  return { code, out: lines.join("\n") };
}

/** A temporary folder standing in for `/`, and a stand-in binary. */
async function withRoot(body: (root: string, binary: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "robot-agent-install-" });
  try {
    const root = join(dir, "root");
    await Deno.mkdir(root);
    const binary = join(dir, "robot-agent-aarch64");
    await Deno.writeTextFile(binary, "#!/bin/sh\n");
    await body(root, binary);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function mode(path: string): Promise<string> {
  return ((await Deno.stat(path)).mode! & 0o7777).toString(8);
}

async function listFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    found.push(entry.name);
    if (entry.isDirectory) {
      found.push(
        ...(await listFiles(join(dir, entry.name))).map((name) => `${entry.name}/${name}`),
      );
    }
  }
  return found.sort();
}

Deno.test("installCommand with --root writes binary, config, token, storage and unit with their modes", async () => {
  await withRoot(async (root, binary) => {
    const { code, out } = await install(["--root", root, "--binary", binary, "--port", "9000"]);
    assert.equal(code, 0, out);
    const prefix = join(root, "opt/robot-agent");
    assert.equal(await Deno.readTextFile(join(prefix, "robot-agent")), "#!/bin/sh\n");
    assert.equal(await mode(join(prefix, "robot-agent")), "755");
    assert.equal(await mode(join(prefix, "config.yaml")), "644");
    assert.equal(await mode(join(prefix, "token.env")), "600");
    assert.match(
      await Deno.readTextFile(join(prefix, "token.env")),
      /^ROBOT_AGENT_TOKEN=ra_[A-Za-z0-9_-]{32}\n$/,
    );
    assert.equal(await mode(join(root, STORAGE_DIR)), "750");
    assert.equal(await mode(join(root, UNIT_PATH)), "644");
    assert.equal(
      await Deno.readTextFile(join(root, UNIT_PATH)),
      serviceUnit({ prefix: "/opt/robot-agent", user: "robot-agent" }),
    );
    // The config written is one the agent accepts, with storage where the unit allows writes.
    const config = await loadConfig(join(prefix, "config.yaml"));
    assert.equal(config.storage.dir, STORAGE_DIR);
    assert.equal(config.gateway.port, 9000);
    assert.match(out, /robot-agent-sandbox .*listed only/);
    assert.match(out, /systemctl daemon-reload && sudo systemctl enable --now robot-agent/);
  });
});

Deno.test("installCommand --dry-run prints every step with owner and mode and changes nothing", async () => {
  await withRoot(async (root, binary) => {
    const { code, out } = await install(["--root", root, "--binary", binary, "--dry-run"]);
    assert.equal(code, 0, out);
    assert.deepEqual(await listFiles(root), []);
    for (
      const line of [
        /user +robot-agent .*useradd --system --no-create-home .*--shell \/usr\/sbin\/nologin/,
        /user +robot-agent-sandbox .*useradd/,
        /dir +\/opt\/robot-agent +root:root 0755/,
        /file +\/opt\/robot-agent\/robot-agent +root:root 0755: .*robot-agent-aarch64/,
        /file +\/opt\/robot-agent\/config\.yaml +root:root 0644/,
        /file +\/opt\/robot-agent\/token\.env +root:root 0600/,
        /dir +\/var\/lib\/robot-agent +robot-agent:robot-agent 0750/,
        /file +\/etc\/systemd\/system\/robot-agent\.service +root:root 0644/,
        /Nothing was changed/,
      ]
    ) assert.match(out, line);
  });
});

Deno.test("installCommand run again keeps the config and the token and rewrites the unit", async () => {
  await withRoot(async (root, binary) => {
    assert.equal((await install(["--root", root, "--binary", binary])).code, 0);
    const prefix = join(root, "opt/robot-agent");
    const token = await Deno.readTextFile(join(prefix, "token.env"));
    await Deno.writeTextFile(join(prefix, "config.yaml"), "gateway:\n  port: 8123\n");
    await Deno.writeTextFile(join(root, UNIT_PATH), "stale\n");
    await Deno.chmod(join(prefix, "token.env"), 0o644);
    const { code, out } = await install(["--root", root, "--binary", binary]);
    assert.equal(code, 0, out);
    assert.equal(await Deno.readTextFile(join(prefix, "token.env")), token);
    assert.equal(await mode(join(prefix, "token.env")), "600");
    assert.equal(await Deno.readTextFile(join(prefix, "config.yaml")), "gateway:\n  port: 8123\n");
    assert.notEqual(await Deno.readTextFile(join(root, UNIT_PATH)), "stale\n");
    assert.deepEqual((await listFiles(prefix)).filter((name) => name.includes(".install-")), []);
  });
});

Deno.test("installCommand makes a different token for each install", async () => {
  const tokens = new Set<string>();
  for (let i = 0; i < 2; i++) {
    await withRoot(async (root, binary) => {
      await install(["--root", root, "--binary", binary]);
      tokens.add(await Deno.readTextFile(join(root, "opt/robot-agent/token.env")));
    });
  }
  assert.equal(tokens.size, 2);
});

Deno.test("installCommand --prefix and --user reach the unit's paths and user", async () => {
  await withRoot(async (root, binary) => {
    const args = ["--root", root, "--binary", binary, "--prefix", "/srv/agent", "--user", "bot"];
    assert.equal((await install(args)).code, 0);
    const unit = await Deno.readTextFile(join(root, UNIT_PATH));
    assert.match(unit, /^User=bot$/m);
    assert.match(
      unit,
      /^ExecStart=\/srv\/agent\/robot-agent serve --config \/srv\/agent\/config\.yaml$/m,
    );
    assert.match(unit, /^EnvironmentFile=\/srv\/agent\/token\.env$/m);
    assert.ok((await Deno.stat(join(root, "srv/agent/token.env"))).isFile);
  });
});

Deno.test("installCommand refuses bad flags with the usage exit code before changing anything", async () => {
  await withRoot(async (root, binary) => {
    for (
      const args of [
        ["--port", "0"],
        ["--port", "http"],
        ["--user", "Robot Agent"],
        ["--user", "same", "--sandbox-user", "same"],
        ["--prefix", "relative/dir"],
        ["--prefix", "/opt/../etc"],
        ["--binary", join(root, "missing")],
        ["--colour"],
      ]
    ) {
      await assert.rejects(
        install(["--root", root, "--binary", binary, ...args]),
        (error: Error & { exitCode?: number }) => error.exitCode === 2,
        args.join(" "),
      );
    }
    assert.deepEqual(await listFiles(root), []);
  });
});

Deno.test("installCommand --print-unit prints the unit for the options given", async () => {
  const { code, out } = await install(["--print-unit", "--user", "bot"]);
  assert.equal(code, 0);
  assert.equal(`${out}\n`, serviceUnit({ prefix: "/opt/robot-agent", user: "bot" }));
});
