import assert from "node:assert/strict";
import { join } from "node:path";
import { ConsoleFiles } from "./_console.ts";

async function withFiles(fn: (files: ConsoleFiles, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "robot-agent-console-files-" });
  try {
    await Deno.writeTextFile(join(dir, "index.html"), "<!doctype html><p>console</p>");
    await Deno.writeTextFile(join(dir, "console.js"), "export {};\n".repeat(100));
    await Deno.writeTextFile(join(dir, "notes.txt"), "not a console file type");
    await fn(new ConsoleFiles(dir), dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function get(path: string, headers: Record<string, string> = {}): Request {
  return new Request(`http://192.168.1.20:8000${path}`, {
    headers: { host: "192.168.1.20:8000", ...headers },
  });
}

Deno.test("ConsoleFiles serves the page at / with its type and a self-only CSP", async () => {
  await withFiles(async (files) => {
    const page = await files.respond(get("/"), "/");
    assert.equal(page.status, 200);
    assert.equal(page.headers.get("content-type"), "text/html; charset=utf-8");
    assert.equal(page.headers.get("cache-control"), "no-cache");
    const csp = page.headers.get("content-security-policy") ?? "";
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(
      csp,
      /connect-src 'self' ws:\/\/192\.168\.1\.20:8000 wss:\/\/192\.168\.1\.20:8000/,
    );
    assert.equal(page.headers.get("x-frame-options"), "DENY");
    assert.equal(await page.text(), "<!doctype html><p>console</p>");
  });
});

Deno.test("ConsoleFiles answers 304 to its own ETag and gzip to a browser that takes it", async () => {
  await withFiles(async (files) => {
    const first = await files.respond(get("/console/console.js"), "/console/console.js");
    const etag = first.headers.get("etag")!;
    assert.match(first.headers.get("content-type")!, /^text\/javascript/);
    await first.body?.cancel();
    const again = await files.respond(
      get("/console/console.js", { "if-none-match": etag }),
      "/console/console.js",
    );
    assert.equal(again.status, 304);
    const zipped = await files.respond(
      get("/console/console.js", { "accept-encoding": "gzip, br" }),
      "/console/console.js",
    );
    assert.equal(zipped.headers.get("content-encoding"), "gzip");
    const body = zipped.body!.pipeThrough(new DecompressionStream("gzip"));
    assert.equal(await new Response(body).text(), "export {};\n".repeat(100));
  });
});

Deno.test("ConsoleFiles serves only its folder's files of known types, by exact name", async () => {
  await withFiles(async (files) => {
    for (
      const path of [
        "/console/notes.txt",
        "/console/missing.js",
        "/console/..%2Fdeno.json",
        "/console/",
      ]
    ) {
      const response = await files.respond(get(path), path);
      assert.equal(response.status, 404, path);
      await response.body?.cancel();
    }
    assert.ok(ConsoleFiles.owns("/") && ConsoleFiles.owns("/console/console.js"));
    assert.ok(!ConsoleFiles.owns("/ws") && !ConsoleFiles.owns("/deno.json"));
  });
});

Deno.test("ConsoleFiles without its folder answers / with the plain text it always had", async () => {
  const files = new ConsoleFiles("/nonexistent/console/static");
  const page = await files.respond(get("/"), "/");
  assert.equal(page.status, 200);
  assert.match(await page.text(), /connect a WebSocket client to \/ws/);
});
