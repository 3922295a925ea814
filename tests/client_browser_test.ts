/**
 * The TypeScript client in a browser: `deno bundle` makes one script of client/mod.ts,
 * headless Chromium runs it in a page allowed by `gateway.allowed_origins`, and the page
 * posts what it saw back to the test.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { startAgent } from "./_agent.ts";

const ROOT = join(import.meta.dirname ?? ".", "..");

/** The page's script: connect, start, call, and a chunked upload the agent refuses. */
function pageScript(agentUrl: string): string {
  return `import { RobotClient } from "/client.js";
let text;
try {
  const robot = await RobotClient.connect(${JSON.stringify(agentUrl)});
  await robot.start();
  const state = await robot.call("sport_client", "StandUp");
  const emptyZip = new Uint8Array([80, 75, 5, 6, ...new Array(18).fill(0)]);
  const refused = await robot.deploy(emptyZip).catch((error) => error.code);
  text = JSON.stringify({ mode: state.mode, version: robot.agentVersion, refused });
  await robot.close();
} catch (error) {
  text = JSON.stringify({ error: String(error) });
}
await fetch("/result", { method: "POST", body: text });`;
}

async function found(command: string): Promise<boolean> {
  const which = await new Deno.Command("sh", { args: ["-c", `command -v ${command}`] }).output();
  return which.success;
}

Deno.test("RobotClient runs in a browser: bundled, it connects, calls and uploads", async () => {
  if (!await found("chromium")) return;
  const dir = await Deno.makeTempDir({ prefix: "robot-agent-browser-" });
  try {
    const bundle = join(dir, "client.js");
    const bundled = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "-o", bundle, "client/mod.ts"],
      cwd: ROOT,
    }).output();
    assert.ok(bundled.success, new TextDecoder().decode(bundled.stderr));
    const script = await Deno.readTextFile(bundle);
    assert.ok(!script.includes("Deno."), "the bundle uses a Deno API");
    const result = Promise.withResolvers<string>();
    let agentUrl = "";
    await using page = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
      const path = new URL(r.url).pathname;
      if (path === "/client.js") {
        return new Response(script, { headers: { "content-type": "text/javascript" } });
      }
      if (path === "/result") {
        result.resolve(await r.text());
        return new Response("ok");
      }
      const html = `<html><body><script type="module">${
        pageScript(agentUrl)
      }</script></body></html>`;
      return new Response(html, { headers: { "content-type": "text/html" } });
    });
    const origin = `http://127.0.0.1:${page.addr.port}`;
    await using agent = await startAgent({
      config: `gateway:\n  allowed_origins: ["${origin}"]\n`,
    });
    agentUrl = agent.url;
    const browser = new Deno.Command("chromium", {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        `--user-data-dir=${dir}/profile`,
        origin,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const timer = setTimeout(() => result.resolve('{"error": "no result within 60 s"}'), 60_000);
    try {
      assert.deepEqual(JSON.parse(await result.promise), {
        mode: "standing",
        version: JSON.parse(await Deno.readTextFile(join(ROOT, "deno.json"))).version,
        refused: "EMPTY_ZIP",
      });
    } finally {
      clearTimeout(timer);
      browser.kill("SIGKILL");
      await browser.status;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
