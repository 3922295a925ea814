/**
 * End-to-end: `wss://` with a certificate the agent makes itself (`gateway.tls: auto`) or
 * is given, pinned by its fingerprint, through the real agent.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { delay, startAgent, withToken } from "./_agent.ts";

/** A WebSocket handshake and one text message over a TLS connection trusting `cert`. */
async function wssRequest(
  port: number,
  cert: string,
  path: string,
  message: unknown,
): Promise<{ status: number; reply?: Record<string, unknown> }> {
  const conn = await Deno.connectTls({ hostname: "127.0.0.1", port, caCerts: [cert] });
  try {
    await conn.write(new TextEncoder().encode(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\n` +
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version: 13\r\n\r\n",
    ));
    const buffer = new Uint8Array(1 << 16);
    let got = new Uint8Array();
    const read = async () => {
      const n = await conn.read(buffer);
      if (n === null) throw new Error("connection closed");
      got = new Uint8Array([...got, ...buffer.subarray(0, n)]);
    };
    while (!new TextDecoder().decode(got).includes("\r\n\r\n")) await read();
    const text = new TextDecoder().decode(got);
    const status = Number(text.split(" ")[1]);
    if (status !== 101) return { status };
    got = got.subarray(text.indexOf("\r\n\r\n") + 4);
    const payload = new TextEncoder().encode(JSON.stringify(message));
    const mask = [7, 1, 9, 3];
    const frame = new Uint8Array([0x81, 0x80 | payload.length, ...mask, ...payload]);
    for (let i = 0; i < payload.length; i++) frame[6 + i] ^= mask[i % 4];
    await conn.write(frame);
    while (got.length < 2 || got.length < 2 + (got[1] & 0x7f) + ((got[1] & 0x7f) === 126 ? 2 : 0)) {
      await read();
    }
    const short = got[1] & 0x7f;
    const [start, length] = short === 126 ? [4, (got[2] << 8) | got[3]] : [2, short];
    while (got.length < start + length) await read();
    return {
      status,
      reply: JSON.parse(new TextDecoder().decode(got.subarray(start, start + length))),
    };
  } finally {
    conn.close();
  }
}

Deno.test("gateway.tls auto serves wss with a CA:FALSE certificate whose fingerprint it prints", async () => {
  await using agent = await startAgent({ config: "gateway:\n  tls: auto\n" });
  for (let i = 0; i < 100 && !/fingerprint/.test(agent.stdout); i++) await delay(20);
  const printed = /SHA-256 fingerprint: ([0-9A-F:]+)/.exec(agent.stdout)?.[1];
  assert.ok(printed, agent.stdout);
  assert.match(agent.stdout, /listening on wss:\/\//);
  const cert = await Deno.readTextFile(join(agent.storage, "tls", "cert.pem"));
  const openssl = await new Deno.Command("openssl", {
    args: [
      "x509",
      "-noout",
      "-fingerprint",
      "-sha256",
      "-in",
      join(agent.storage, "tls", "cert.pem"),
    ],
  }).output();
  assert.equal(new TextDecoder().decode(openssl.stdout).trim().split("=")[1], printed);
  const answered = await wssRequest(agent.port, cert, withToken("/ws", agent.token), {
    command: "status",
    id: 1,
  });
  assert.equal(answered.status, 101);
  assert.equal(answered.reply?.status, "success");
  const refused = await wssRequest(agent.port, cert, "/ws", { command: "status" });
  assert.equal(refused.status, 401);
  // Plain WebSocket to a TLS port gets no upgrade.
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: agent.port });
  await conn.write(new TextEncoder().encode("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n"));
  const n = await conn.read(new Uint8Array(64)).catch(() => null);
  conn.close();
  assert.ok(n === null || n < 64, "no HTTP answer on a TLS port");
});

Deno.test("gateway.tls with cert_file and key_file serves the given certificate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "tls-files-" });
  try {
    const made = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=robot",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
      ],
      stderr: "null",
    }).output();
    assert.ok(made.success);
    await using agent = await startAgent({
      config: `gateway:\n  tls:\n    cert_file: ${join(dir, "cert.pem")}\n    key_file: ${
        join(dir, "key.pem")
      }\n`,
    });
    const cert = await Deno.readTextFile(join(dir, "cert.pem"));
    const answered = await wssRequest(agent.port, cert, withToken("/ws", agent.token), {
      command: "status",
      id: 2,
    });
    assert.equal(answered.reply?.message, "Status");
    await assert.rejects(Deno.stat(join(agent.storage, "tls")), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
