/**
 * End-to-end: a seeded protocol fuzz through the real agent. Every malformed message gets
 * exactly one documented error, the agent stays up, and its memory stays bounded.
 */
import assert from "node:assert/strict";
import { type Client, isAlive, makeZip, type Message, startAgent } from "./_agent.ts";

const MAX_MESSAGE_BYTES = 1024 * 1024;
// The test's own thread is busy for long stretches making and checking cases, and does
// not answer pings meanwhile: with the default link timeout (500 ms) the agent would,
// rightly, take that for a link gone dark. This test is about messages, not links.
const CONFIG =
  `gateway:\n  max_message_bytes: ${MAX_MESSAGE_BYTES}\nsafety:\n  link_timeout_ms: 30000\n`;
const SEED = 0x5eed_f422;
const BATCHES = 20;
const BATCH_SIZE = 500;
const DEEP = 10_000;
const HUGE = 500 * 1024;
const MIB = 1024 * 1024;

/** The codes of the "Error codes" table in docs/protocol.md, the contract under test. */
async function documentedCodes(): Promise<Set<string>> {
  const doc = await Deno.readTextFile(new URL("../docs/protocol.md", import.meta.url));
  const table = doc.slice(doc.indexOf("## Error codes"));
  const codes = new Set([...table.matchAll(/^\| `([A-Z0-9_]+)` +\|/gm)].map((match) => match[1]));
  assert.ok(codes.size > 20, "docs/protocol.md lost its table of error codes");
  return codes;
}

/** mulberry32: small, fast and deterministic. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One malformed message and what its single reply may be. */
interface FuzzCase {
  payload: string | Uint8Array;
  /** The id the reply must echo; undefined when the message has no readable id. */
  id?: string | number;
  /** The codes that fit this message. */
  codes: readonly string[];
}

const ZIP_REFUSALS = ["BAD_ZIP", "EMPTY_ZIP"] as const;
const BAD_REQUEST = ["BAD_REQUEST"] as const;
/** Names that exist somewhere (JS prototypes, Python dunders, modules the project imports). */
const TRICKY_NAMES = [
  ...("__proto__ constructor prototype toString hasOwnProperty valueOf __init__ __class__ " +
    "__dict__ __del__ __getattribute__ __call__ __module__ __builtins__ __name__ _state _command " +
    "_advance _SportClient push_message init stop math time threading sys os getstate " +
    "sport_client.GetState Sport_client SPORT_CLIENT ｓport_client").split(" "),
  "sport_client ",
  " sport_client",
  "GetState ",
  "sport_client\u0000",
  "GetState\u0000",
  "\ud800",
];
/** Command names the agent uses internally or that look like real ones. */
const TRICKY_COMMANDS = [
  ..."safety_stop upload_end init ready req res cb event UPDATE Start STATUS".split(" "),
  ..."__proto__ constructor toString hasOwnProperty".split(" "),
  "update ",
  " start",
  "status\u0000",
  "process\n",
  "",
];
const KNOWN_COMMANDS = "update start process status cancel rollback upload_begin upload_chunk"
  .split(" ");

/** Makes malformed messages, never a well-formed command that would succeed. */
class Fuzzer {
  #random: () => number;
  #nextId = 1;
  #validZip: Uint8Array;

  constructor(seed: number, validZip: Uint8Array) {
    this.#random = seededRandom(seed);
    this.#validZip = validZip;
  }

  int(below: number): number {
    return Math.floor(this.#random() * below);
  }

  chance(p: number): boolean {
    return this.#random() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.int(256);
    return out;
  }

  string(max = 24): string {
    const length = this.int(max + 1);
    let out = "";
    for (let i = 0; i < length; i++) {
      const kind = this.int(10);
      if (kind < 6) out += String.fromCharCode(0x20 + this.int(95));
      else if (kind === 6) out += String.fromCharCode(this.int(0x20));
      else if (kind === 7) out += String.fromCharCode(0xd800 + this.int(0x800));
      else if (kind === 8) out += String.fromCodePoint(0x80 + this.int(0x10ff00));
      else out += this.pick(['"', "\\", "/", "\u2028", "\ufeff", "{", "["]);
    }
    return out;
  }

  /** A name that no object or method of the running project has. */
  unknownName(): string {
    return this.chance(0.3) ? this.pick(TRICKY_NAMES) : `fz_${this.string(12)}`;
  }

  number(): number {
    const large = [2 ** 53, 2 ** 64, -(2 ** 63), 1e308, 5e-324];
    return this.pick([0, -1, 1.5, -0.5, ...large, this.int(1e6), -this.int(1e6)]);
  }

  /** Any JSON value, nested up to `depth`. */
  value(depth = 3): unknown {
    const kind = this.int(depth > 0 ? 7 : 5);
    switch (kind) {
      case 0:
        return null;
      case 1:
        return this.chance(0.5);
      case 2:
        return this.number();
      case 3:
      case 4:
        return this.string();
      case 5:
        return Array.from({ length: this.int(5) }, () => this.value(depth - 1));
      default: {
        const out: Record<string, unknown> = {};
        for (let i = this.int(5); i > 0; i--) out[this.string(8)] = this.value(depth - 1);
        return out;
      }
    }
  }

  /** A value that is not a JSON object (nor null, which some fields treat as absent). */
  nonObject(): unknown {
    return this.pick<() => unknown>([
      () => this.chance(0.5),
      () => this.number(),
      () => this.string(),
      () => [],
      () => [this.value(1), this.value(1)],
    ])();
  }

  /** A value that is not a non-empty string (nor any string, unless `empty`). */
  nonString(empty = true): unknown {
    return this.pick<() => unknown>([
      () => null,
      () => this.chance(0.5),
      () => this.number(),
      () => empty ? "" : undefined,
      () => [],
      () => [this.string()],
      () => ({}),
      () => ({ name: this.string() }),
    ])();
  }

  /** An id the agent must refuse: wrong type, non-finite or too long. */
  badId(): unknown {
    return this.pick<() => unknown>([
      () => ({}),
      () => ({ id: 1 }),
      () => [],
      () => [1],
      () => true,
      () => false,
      () => "i".repeat(257 + this.int(2000)),
    ])();
  }

  /** Gives `message` a fresh valid id (or none) and returns the case. */
  withId(message: Record<string, unknown>, codes: readonly string[]): FuzzCase {
    if (this.chance(0.2)) return { payload: JSON.stringify(message), codes };
    const n = this.#nextId++;
    const id = this.chance(0.5) ? `f${n}` : n;
    return { payload: JSON.stringify({ ...message, id }), id, codes };
  }

  /** A message with an id the agent must refuse, whatever the rest says. */
  withBadId(message: Record<string, unknown>): FuzzCase {
    return { payload: JSON.stringify({ ...message, id: this.badId() }), codes: BAD_REQUEST };
  }

  next(): FuzzCase {
    const roll = this.int(100);
    if (roll < 5) return this.topLevelNonObject();
    if (roll < 10) return this.notJson();
    if (roll < 16) return this.badCommandField();
    if (roll < 22) return this.badIdField();
    if (roll < 30) return this.unknownCommand();
    if (roll < 36) return this.paramsNotObject();
    if (roll < 46) return this.badProcessFields();
    if (roll < 54) return this.unknownObject();
    if (roll < 60) return this.unknownMethod();
    if (roll < 64) return this.badCancel();
    if (roll < 71) return this.badUpdate();
    if (roll < 75) return this.badUploadBegin();
    if (roll < 79) return this.badUploadChunk();
    if (roll < 87) return this.binaryGarbage();
    if (roll < 98) return this.badChunkHeader();
    if (roll < 99) return this.deeplyNested();
    return this.hugeString();
  }

  topLevelNonObject(): FuzzCase {
    const value = this.chance(0.2) ? null : this.nonObject();
    return { payload: JSON.stringify(value), codes: BAD_REQUEST };
  }

  notJson(): FuzzCase {
    const valid = JSON.stringify({ command: "status", id: "never" });
    const payload = this.pick<() => string>([
      () => "",
      () => " ",
      () => this.string(60),
      () => valid.slice(0, this.int(valid.length - 1)),
      () => `${valid}${this.pick(["x", ",", "}", "{}", " 1"])}`,
      () => "{'command': 'status'}",
      () => '{"command": "status",}',
      () => "NaN",
      () => "undefined",
      () => '{"command": "status", "id": 01}',
      () => '{"command": "status", "id": 1e999}',
      () => "\ud800\udfff\ud800",
      () => "\u0000",
    ])();
    return { payload, codes: BAD_REQUEST };
  }

  badCommandField(): FuzzCase {
    const message: Record<string, unknown> = { params: this.value(2) };
    if (this.chance(0.8)) message.command = this.nonString(false);
    else message.cmd = this.pick(KNOWN_COMMANDS);
    return this.withId(message, BAD_REQUEST);
  }

  badIdField(): FuzzCase {
    const command = this.pick(KNOWN_COMMANDS);
    const message: Record<string, unknown> = { command };
    if (command === "process") {
      message.params = { object: "sport_client", method: "GetState", args: {} };
    } else if (command === "update") {
      // A deployable zip: the id must be refused before anything is deployed.
      message.data = this.#validZip.toBase64();
    }
    return this.withBadId(message);
  }

  unknownCommand(): FuzzCase {
    const command = this.chance(0.4) ? this.pick(TRICKY_COMMANDS) : `fz_${this.string(16)}`;
    return this.withId({ command, params: { object: "sport_client", method: "GetState" } }, [
      "UNKNOWN_COMMAND",
    ]);
  }

  paramsNotObject(): FuzzCase {
    const command = this.pick(KNOWN_COMMANDS);
    return this.withId({ command, params: this.nonObject(), data: "" }, BAD_REQUEST);
  }

  badProcessFields(): FuzzCase {
    const params: Record<string, unknown> = { object: "sport_client", method: "GetState" };
    switch (this.int(5)) {
      case 0:
        params.object = this.nonString();
        break;
      case 1:
        params.method = this.nonString();
        break;
      case 2:
        if (this.chance(0.5)) delete params.object;
        else delete params.method;
        break;
      case 3:
        params.object = this.nonString();
        params.method = this.nonString();
        params.args = this.nonObject();
        break;
      default:
        params.args = this.nonObject();
    }
    return this.withId({ command: "process", params }, BAD_REQUEST);
  }

  unknownObject(): FuzzCase {
    const args = this.chance(0.5) ? {} : this.value(3);
    const params = {
      object: this.unknownName(),
      method: this.chance(0.5) ? "GetState" : this.unknownName(),
      args: args !== null && typeof args === "object" && !Array.isArray(args) ? args : {},
    };
    return this.withId({ command: "process", params }, ["UNKNOWN_OBJECT"]);
  }

  unknownMethod(): FuzzCase {
    const params = { object: "sport_client", method: this.unknownName(), args: {} };
    return this.withId({ command: "process", params }, ["UNKNOWN_METHOD"]);
  }

  badCancel(): FuzzCase {
    const callId = this.chance(0.5) ? this.nonString() : this.pick([1, 2, "f1", "nothing"]);
    // No call is ever in flight, so even a well-typed call_id names nothing to cancel.
    const params = this.chance(0.2) ? {} : { call_id: callId };
    return this.withId({ command: "cancel", params }, BAD_REQUEST);
  }

  badUpdate(): FuzzCase {
    switch (this.int(4)) {
      case 0:
        return this.withId(
          { command: "update", ...(this.chance(0.3) ? {} : { data: this.nonString(false) }) },
          BAD_REQUEST,
        );
      case 1: {
        const data = this.pick<() => string>([
          () => "@@@@",
          () => "QUJD=",
          () => "A",
          () => "====",
          () => `${this.bytes(30).toBase64()}!`,
          () => this.string(40),
        ])();
        return this.withId({ command: "update", data }, ["BAD_BASE64", ...ZIP_REFUSALS]);
      }
      case 2:
        return this.withId({ command: "update", data: "" }, ZIP_REFUSALS);
      default:
        return this.withId(
          { command: "update", data: this.garbage().toBase64() },
          ZIP_REFUSALS,
        );
    }
  }

  badUploadBegin(): FuzzCase {
    const hex = Array.from({ length: 64 }, () => "0123456789abcdef"[this.int(16)]).join("");
    const sizes = [0, -1, 1.5, 2 ** 60, "10", null, true, [], {}];
    const shas = [this.string(64), hex.slice(1), `${hex}0`, `${hex.slice(1)}g`, 64, null, []];
    const params = this.chance(0.5)
      ? { size: this.pick(sizes), sha256: this.chance(0.5) ? hex : this.pick(shas) }
      : { size: 1 + this.int(1000), sha256: this.pick(shas) };
    return this.withId({ command: "upload_begin", params }, ["BAD_REQUEST", "UPLOAD_ERROR"]);
  }

  badUploadChunk(): FuzzCase {
    const params: Record<string, unknown> = {
      upload_id: this.pick(["0".repeat(64), "../../../etc/passwd", this.string(20), "x"]),
      offset: 0,
      data: this.bytes(this.int(64)).toBase64(),
    };
    let codes: readonly string[] = ["UPLOAD_ERROR"];
    switch (this.int(5)) {
      case 0:
        params.upload_id = this.nonString();
        codes = BAD_REQUEST;
        break;
      case 1:
        params.offset = this.pick([-1, 1.5, "0", null, [], 2 ** 60]);
        codes = BAD_REQUEST;
        break;
      case 2:
        params.data = this.pick([null, 1, [], {}, "@@@"]);
        codes = ["BAD_REQUEST", "BAD_BASE64"];
        break;
      default:
        // Well formed, for an upload that was never begun.
        if (params.upload_id === "") params.upload_id = "none";
    }
    if (params.upload_id === "") codes = BAD_REQUEST;
    return this.withId({ command: "upload_chunk", params }, codes);
  }

  /** Bytes no zip reader accepts: random, invalid UTF-8, or zip-looking debris. */
  garbage(): Uint8Array {
    return this.pick<() => Uint8Array>([
      () => this.bytes(this.int(300)),
      () => new Uint8Array([0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x28, 0x8c, 0xbc]),
      () => new Uint8Array([0xff, 0xfe, 0xfd, ...this.bytes(this.int(40))]),
      () => new Uint8Array([0x50, 0x4b, 0x03, 0x04, ...this.bytes(this.int(100))]),
      () => new Uint8Array([0x50, 0x4b, 0x05, 0x06, ...new Uint8Array(18)]),
      () => new Uint8Array([0x50, 0x4b, 0x05, 0x06, ...this.bytes(18)]),
      () => new Uint8Array([0x50, 0x4b, 0x01, 0x02, ...this.bytes(60)]),
      () => new Uint8Array(),
      () => new TextEncoder().encode(JSON.stringify({ command: "status" })),
      () => this.#validZip.subarray(0, this.int(this.#validZip.length - 1)),
    ])();
  }

  binaryGarbage(): FuzzCase {
    return { payload: this.garbage(), codes: ZIP_REFUSALS };
  }

  /** A binary message that starts like an upload chunk but is not a good one. */
  badChunkHeader(): FuzzCase {
    const magic = new TextEncoder().encode("RAC1");
    const build = (header: Uint8Array, declared = header.length, data = this.bytes(8)) => {
      const out = new Uint8Array(8 + header.length + data.length);
      out.set(magic);
      new DataView(out.buffer).setUint32(4, declared);
      out.set(header, 8);
      out.set(data, 8 + header.length);
      return out;
    };
    const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    switch (this.int(7)) {
      case 0: // Too short to hold a header length: taken for a zip.
        return { payload: magic.subarray(0, 4).slice(0, 1 + this.int(4)), codes: ZIP_REFUSALS };
      case 1:
        return {
          payload: new Uint8Array([...magic, ...this.bytes(this.int(4))]),
          codes: ZIP_REFUSALS,
        };
      case 2: // The header length runs past the end.
        return {
          payload: build(json({ upload_id: "x", offset: 0 }), 0xffffffff - this.int(100)),
          codes: BAD_REQUEST,
        };
      case 3: // Not JSON, or not UTF-8.
        return {
          payload: build(
            this.chance(0.5) ? this.bytes(1 + this.int(40)) : new Uint8Array([0xc3, 0x28, 0x7b]),
          ),
          codes: BAD_REQUEST,
        };
      case 4:
        return { payload: build(json(this.nonObject())), codes: BAD_REQUEST };
      case 5: {
        const header: Record<string, unknown> = {
          upload_id: this.chance(0.5) ? this.nonString() : "x",
          offset: this.chance(0.5) ? this.pick([-1, 0.5, "0", null]) : 0,
          id: this.badId(),
        };
        return { payload: build(json(header)), codes: BAD_REQUEST };
      }
      default: {
        // Well formed, for an upload that was never begun; its id must be echoed.
        const n = this.#nextId++;
        const id = `f${n}`;
        const header = { upload_id: this.pick(["0".repeat(64), "../../x", "y"]), offset: 0, id };
        return { payload: build(json(header)), id, codes: ["UPLOAD_ERROR"] };
      }
    }
  }

  deeplyNested(): FuzzCase {
    const arrays = "[".repeat(DEEP) + "]".repeat(DEEP);
    const objects = '{"a":'.repeat(DEEP) + "1" + "}".repeat(DEEP);
    switch (this.int(7)) {
      case 0:
        return { payload: arrays, codes: BAD_REQUEST };
      case 1:
        return { payload: objects, codes: BAD_REQUEST };
      case 2:
        return { payload: "[".repeat(DEEP), codes: BAD_REQUEST };
      case 3:
        return { payload: `{"command":${arrays}}`, codes: BAD_REQUEST };
      case 4:
        return { payload: `{"command":"status","id":${objects}}`, codes: BAD_REQUEST };
      case 5: {
        const n = this.#nextId++;
        const payload = `{"command":"start","id":${n},"params":${arrays}}`;
        return { payload, id: n, codes: BAD_REQUEST };
      }
      default: {
        // Deep arguments for an object that does not exist: refused before Python sees them.
        const n = this.#nextId++;
        const payload = `{"command":"process","id":${n},"params":{"object":"fz_deep",` +
          `"method":"m","args":{"x":${this.chance(0.5) ? arrays : objects}}}}`;
        // Arguments nested past the limit are refused before the object is looked up.
        return { payload, id: n, codes: ["BAD_REQUEST"] };
      }
    }
  }

  hugeString(): FuzzCase {
    const huge = "h".repeat(HUGE - this.int(1000));
    switch (this.int(5)) {
      case 0:
        return this.withId({ command: huge }, ["UNKNOWN_COMMAND"]);
      case 1:
        return { payload: JSON.stringify({ command: "status", id: huge }), codes: BAD_REQUEST };
      case 2:
        // Valid base64 of zeros: a lot of bytes that are no zip.
        return this.withId({ command: "update", data: "A".repeat(HUGE) }, ZIP_REFUSALS);
      case 3:
        return { payload: JSON.stringify(huge), codes: BAD_REQUEST };
      default:
        return this.withId(
          { command: "process", params: { object: "sport_client", method: huge } },
          ["UNKNOWN_METHOD"],
        );
    }
  }

  /** A message over the limit: refused with MESSAGE_TOO_LARGE and close code 4009. */
  oversized(): string | Uint8Array {
    const size = MAX_MESSAGE_BYTES + 1 + this.int(MIB);
    return this.chance(0.5)
      ? JSON.stringify({ command: "update", data: "A".repeat(size) })
      : new Uint8Array(size);
  }
}

/** A short, printable form of a case for assertion messages. */
function describe(fuzz: FuzzCase): string {
  const text = typeof fuzz.payload === "string"
    ? fuzz.payload
    : `<binary ${[...fuzz.payload.subarray(0, 24)].join(",")}…>`;
  return text.length > 200 ? `${text.slice(0, 200)}… (${text.length} chars)` : text;
}

/** Sends a batch at once, then checks its replies: one documented error per message. */
async function runBatch(client: Client, cases: FuzzCase[], documented: Set<string>): Promise<void> {
  const byId = new Map<string | number, FuzzCase>();
  const anonymous: FuzzCase[] = [];
  for (const fuzz of cases) {
    if (fuzz.id === undefined) anonymous.push(fuzz);
    else byId.set(fuzz.id, fuzz);
    client.send(fuzz.payload);
  }
  const anonymousCodes = new Set(anonymous.flatMap((fuzz) => fuzz.codes));
  let unanswered = anonymous.length;
  for (let count = 0; count < cases.length; count++) {
    const reply = await client.next((m) => m.status !== "callback" || !m.event, 30_000);
    assert.equal(reply.status, "error", `a malformed message succeeded: ${JSON.stringify(reply)}`);
    assert.ok(documented.has(reply.code), `undocumented code ${reply.code}`);
    assert.equal(typeof reply.message, "string");
    assert.ok(reply.message.length > 5, `no message: ${JSON.stringify(reply)}`);
    assert.equal(typeof reply.data, "object");
    if (reply.id === undefined) {
      unanswered--;
      assert.ok(unanswered >= 0, `more id-less replies than id-less messages: ${reply.message}`);
      assert.ok(anonymousCodes.has(reply.code), `${reply.code}: ${reply.message}`);
    } else {
      const fuzz = byId.get(reply.id);
      assert.ok(fuzz, `a reply with an unknown or repeated id: ${JSON.stringify(reply)}`);
      byId.delete(reply.id);
      assert.ok(
        fuzz.codes.includes(reply.code),
        `${describe(fuzz)} got ${reply.code} (${reply.message.slice(0, 300)}), ` +
          `expected ${fuzz.codes.join(" or ")}`,
      );
    }
  }
}

async function rssKiB(pid: number): Promise<number> {
  const output = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)] }).output();
  const rss = Number(new TextDecoder().decode(output.stdout).trim());
  assert.ok(rss > 0, `no RSS for pid ${pid}`);
  return rss;
}

async function status(client: Client, id: string): Promise<Message> {
  const reply = await client.request({ command: "status", id });
  assert.equal(reply.status, "success", reply.message);
  return reply;
}

Deno.test("the agent answers 10,000 malformed messages with one documented error each", async () => {
  const documented = await documentedCodes();
  await using agent = await startAgent({ config: CONFIG });
  const validZip = await makeZip({
    "main.py": "class Fuzzed:\n    def hit(self):\n        return 1\n",
  });
  const fuzzer = new Fuzzer(SEED, validZip);
  let client = await agent.connect();
  try {
    const before = await status(client, "before");
    const workerPid: number = before.data.worker.pid;
    const versionBefore = before.data.project.version;
    const rssBefore = [await rssKiB(agent.child.pid), await rssKiB(workerPid)];

    for (let batch = 0; batch < BATCHES; batch++) {
      const cases = Array.from({ length: BATCH_SIZE }, () => fuzzer.next());
      await runBatch(client, cases, documented);
      assert.deepEqual(
        client.received.filter((m) => m.status === "callback" && !m.event),
        [],
        "a callback arrived for a call that should never have been accepted",
      );
      // Over the limit: one error, then the agent closes the connection; reconnect.
      client.send(fuzzer.oversized());
      const refusal = await client.next((m) => m.status !== "callback");
      assert.equal(refusal.status, "error");
      assert.equal(refusal.code, "MESSAGE_TOO_LARGE");
      assert.equal((await client.closed).code, 4009);
      const events = client.received.filter((m) => m.event).map((m) => m.event);
      assert.deepEqual(
        events.filter((e) => /^(worker_|project_exited)/.test(e)),
        [],
        `the fuzz disturbed the worker or the project (batch ${batch})`,
      );
      client = await agent.connect();
    }

    assert.ok(await isAlive(agent.child.pid), "the gateway died");
    const after = await status(client, "after");
    assert.equal(after.data.worker.pid, workerPid, "the worker was restarted");
    assert.equal(after.data.worker.restarts, 0);
    assert.equal(after.data.project.version, versionBefore, "a malformed message deployed");
    assert.equal(after.data.project.state, "running");
    assert.equal(after.data.project.pid, before.data.project.pid, "the project was restarted");
    const state = await client.call("final", "sport_client", "GetState");
    assert.equal(state.ack.status, "success", state.ack.message);
    assert.equal(state.callback.data.ok, true);

    const rssAfter = [await rssKiB(agent.child.pid), await rssKiB(workerPid)];
    for (const [i, name] of ["gateway", "worker"].entries()) {
      assert.ok(
        rssAfter[i] < rssBefore[i] + 150 * 1024,
        `${name} RSS grew from ${rssBefore[i]} KiB to ${rssAfter[i]} KiB`,
      );
    }
    assert.doesNotMatch(agent.log, /\[(ERR|FTL)\]/, "the fuzz caused errors in the agent's log");
    const staging = [...Deno.readDirSync(`${agent.storage}/staging`)];
    assert.deepEqual(staging, [], "refused updates left staging folders behind");
  } finally {
    await client.close();
  }
});

Deno.test({
  name: "a call with arguments nested 10,000 deep leaves the Python project running",
  fn: async () => {
    await using agent = await startAgent({ config: CONFIG });
    await using client = await agent.connect();
    assert.equal((await client.call(1, "sport_client", "StandUp")).callback.data.ok, true);
    const before = await status(client, "before");
    const deep = "[".repeat(DEEP) + "]".repeat(DEEP);
    const reply = client.reply("deep");
    client.send(
      `{"command":"process","id":"deep","params":{"object":"sport_client",` +
        `"method":"GetState","args":{"keys":${deep}}}}`,
    );
    const answer = await reply;
    if (answer.status === "error") {
      assert.equal(answer.code, "BAD_REQUEST");
    } else {
      const callback = await client.callback("deep");
      assert.equal(callback.data.ok, false);
      const code = callback.data.error.code;
      assert.ok(["BAD_ARGS", "EXCEPTION"].includes(code), JSON.stringify(callback.data.error));
    }
    const after = await status(client, "after");
    assert.equal(after.data.project.pid, before.data.project.pid, "the project's process died");
    const state = await client.call(2, "sport_client", "GetState");
    assert.equal(state.callback.data.result.mode, "standing", "the robot's state was lost");
  },
});

Deno.test({
  name: "a text message over gateway.max_message_bytes in UTF-8 bytes is refused with 4009",
  fn: async () => {
    await using agent = await startAgent({ config: CONFIG });
    const client = await agent.connect();
    // 600,000 three-byte characters: 1.8 MB of UTF-8 against a limit of 1 MiB.
    const text = JSON.stringify({ command: "status", id: "wide", pad: "€".repeat(600_000) });
    assert.ok(new TextEncoder().encode(text).length > MAX_MESSAGE_BYTES);
    client.send(text);
    const reply = await client.next();
    assert.equal(reply.code, "MESSAGE_TOO_LARGE", `${reply.status}: ${reply.message}`);
    assert.equal((await client.closed).code, 4009);
  },
});
