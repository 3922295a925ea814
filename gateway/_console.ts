/**
 * The web console's files (`console/static/`), served by the gateway on `/` and
 * `/console/NAME`: read once into memory, answered with their content type, an ETag
 * (`no-cache`: a phone revalidates in one round trip, and a new agent's page is never
 * stale), gzip when the browser takes it, and a Content-Security-Policy that lets the page
 * load nothing and talk to nothing but the agent it came from.
 *
 * Only the folder's own files are served, by exact name: a request path never becomes a
 * file path.
 *
 * @module
 */
import { join } from "node:path";
import { logger } from "../log.ts";

const log = logger("gateway", "console");

/** Where the files are, beside the code (and so inside the compiled binary, `--include`). */
export const CONSOLE_DIR = join(import.meta.dirname ?? ".", "..", "console", "static");

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  json: "application/json",
};

interface Asset {
  type: string;
  body: Uint8Array;
  gzip: Uint8Array;
  etag: string;
}

async function gzipped(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function loadAssets(dir: string): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch (error) {
    log.warn("No web console: cannot read {dir}: {error}", { dir, error: String(error) });
    return assets;
  }
  for (const entry of entries) {
    const type = TYPES[entry.name.split(".").pop() ?? ""];
    if (!entry.isFile || !type || !/^[a-z0-9_.-]+$/.test(entry.name)) continue;
    const body = await Deno.readFile(join(dir, entry.name));
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", body as BufferSource));
    const etag = `"${
      [...digest.slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("")
    }"`;
    assets.set(entry.name, { type, body, gzip: await gzipped(body), etag });
  }
  return assets;
}

/** The policy: scripts, styles and images from the agent only; sockets to the agent only. */
function securityHeaders(host: string): Record<string, string> {
  return {
    "content-security-policy": [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data:",
      // 'self' covers ws: in CSP 3; the explicit ones are for browsers that predate it.
      `connect-src 'self' ws://${host} wss://${host}`,
      "manifest-src 'self'",
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join("; "),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
  };
}

/** The console's files, loaded on first use. */
export class ConsoleFiles {
  #dir: string;
  #assets: Promise<Map<string, Asset>> | undefined;

  /** Serves the files of `dir` (the built-in console by default). */
  constructor(dir = CONSOLE_DIR) {
    this.#dir = dir;
  }

  /** Whether `pathname` is one of the console's (`/`, `/console/NAME`). */
  static owns(pathname: string): boolean {
    return pathname === "/" || pathname.startsWith("/console/");
  }

  /** The response for a GET or HEAD of `pathname`, already checked by {@linkcode owns}. */
  async respond(request: Request, pathname: string): Promise<Response> {
    this.#assets ??= loadAssets(this.#dir);
    const assets = await this.#assets;
    const name = pathname === "/" ? "index.html" : pathname.slice("/console/".length);
    const asset = assets.get(name);
    if (!asset) {
      const text = assets.size === 0
        ? "robot-agent: the web console is not installed; connect a WebSocket client to /ws\n"
        : "Not found\n";
      return new Response(text, {
        status: assets.size === 0 && name === "index.html" ? 200 : 404,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    const host = request.headers.get("host") ?? new URL(request.url).host;
    const headers: Record<string, string> = {
      "content-type": asset.type,
      "cache-control": "no-cache",
      etag: asset.etag,
      vary: "accept-encoding",
      ...securityHeaders(host),
    };
    if (request.headers.get("if-none-match") === asset.etag) {
      return new Response(null, { status: 304, statusText: "Not Modified", headers });
    }
    const gzip = /\bgzip\b/.test(request.headers.get("accept-encoding") ?? "");
    if (gzip) headers["content-encoding"] = "gzip";
    const body = request.method === "HEAD" ? null : gzip ? asset.gzip : asset.body;
    return new Response(body as BodyInit | null, { headers });
  }
}
