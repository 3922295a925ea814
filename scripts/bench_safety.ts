/**
 * Measures the safety guarantees of docs/reliability.md: how long from a controller's link
 * going dark (its process stopped with SIGSTOP) to the project's `stop()` hook running,
 * and from `estop` to the hook while 1,000 calls are queued and a 50 MB upload runs.
 *
 * `deno run -A scripts/bench_safety.ts [--trials 20] [--quick]`
 *
 * The hook stamps `time.time()` in an event an observer receives; the clock is this
 * machine's, shared by both sides.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { type Agent, type Client, sha256, startAgent } from "../tests/_agent.ts";

const PROJECT = `import time


class Robot:
    def move(self):
        return "moving"

    def busy(self):
        time.sleep(0.05)
        return "done"


robot = Robot()


def stop():
    push_message("stopped", {"at_ms": time.time() * 1000})
`;

/** A controller in its own process, so that it can be stopped with SIGSTOP. */
const DARK_CLIENT = `
const socket = new WebSocket(Deno.args[0]);
socket.onopen = () => socket.send(JSON.stringify({
  command: "process", id: "go", params: { object: "robot", method: "move" },
}));
socket.onmessage = (event) => {
  const message = JSON.parse(event.data);
  if (message.status === "callback" && message.id === "go") console.log("moving");
};
`;

/** The script's only way to print. */
function out(text: string): void {
  // deno-lint-ignore no-console -- the script's own output
  console.log(text);
}

function summary(values: number[]): string {
  const sorted = values.toSorted((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
  return `n ${values.length}: p50 ${at(0.5).toFixed(0)} · p99 ${at(0.99).toFixed(0)} · max ${
    sorted.at(-1)!.toFixed(0)
  } ms`;
}

async function deploy(agent: Agent): Promise<void> {
  await using client = await agent.connect();
  await client.deploy({ "main.py": PROJECT });
}

/** One trial: a controller moves, goes dark; resolves with ms from SIGSTOP to the hook. */
async function darkTrial(agent: Agent, observer: Client, script: string): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, agent.url],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    const first = await reader.read();
    if (!first.value?.includes("moving")) throw new Error("the dark client never moved");
    const began = Date.now();
    const stopped = observer.next((m) => m.event === "stopped" && m.data.at_ms >= began, 10_000);
    child.kill("SIGSTOP");
    return (await stopped).data.at_ms - began;
  } finally {
    child.kill("SIGKILL");
    await reader.cancel();
    await child.status;
  }
}

async function linkLoss(trials: number): Promise<number[]> {
  await using agent = await startAgent();
  await deploy(agent);
  const script = join(agent.storage, "dark_client.ts");
  await Deno.writeTextFile(script, DARK_CLIENT);
  await using observer = await agent.connect("/ws?observe=1");
  const times: number[] = [];
  for (let i = 0; i < trials; i++) times.push(await darkTrial(agent, observer, script));
  return times;
}

/** Sends a 50 MB upload in 1 MiB chunks until `signal` aborts; resolves when it stops. */
async function uploadUntil(client: Client, signal: AbortSignal): Promise<void> {
  // Aborted before its last byte: it never has to be a valid zip.
  const size = 50 * 1024 * 1024;
  const data = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) crypto.getRandomValues(data.subarray(at, at + 65536));
  const digest = await sha256(data);
  const begin = await client.request({
    command: "upload_begin",
    id: `u-${digest.slice(0, 8)}`,
    params: { size, sha256: digest },
  });
  let offset: number = begin.data.offset;
  // Text chunks: each is answered by a reply, which (unlike a binary chunk's progress
  // event) the agent never drops when the client is busy reading other messages.
  let chunk = 0;
  while (!signal.aborted && offset < size) {
    const end = Math.min(size, offset + 1024 * 1024);
    await client.request({
      command: "upload_chunk",
      id: `c-${digest.slice(0, 8)}-${chunk++}`,
      params: { upload_id: digest, offset, data: data.subarray(offset, end).toBase64() },
    }, 30_000);
    offset = end;
  }
  await client.request({ command: "upload_abort", id: "abort", params: { upload_id: digest } });
}

async function estopTrial(controller: Client, observer: Client, trial: number): Promise<number> {
  for (let i = 0; i < 1000; i++) {
    controller.send({
      command: "process",
      id: `q${trial}-${i}`,
      params: { object: "robot", method: "busy" },
    });
  }
  const upload = new AbortController();
  const uploading = uploadUntil(controller, upload.signal);
  await new Promise((resolve) => setTimeout(resolve, 300));
  observer.received.length = 0;
  const began = Date.now();
  // Only a stop after the press counts (a client that left earlier ran one too).
  const stopped = observer.next((m) => m.event === "stopped" && m.data.at_ms >= began, 20_000);
  observer.send({ command: "estop", id: `e${trial}`, params: { reason: "bench" } });
  const latency = (await stopped).data.at_ms - began;
  await observer.reply(`e${trial}`, 20_000);
  upload.abort();
  await uploading;
  await controller.request({ command: "estop_release", id: `r${trial}` });
  controller.received.length = 0;
  return latency;
}

async function estopUnderLoad(trials: number): Promise<number[]> {
  // The benchmark's client is busy sending; it must not be taken for a dark link.
  await using agent = await startAgent({ config: "safety:\n  link_timeout_ms: 30000\n" });
  await deploy(agent);
  await using controller = await agent.connect();
  await using observer = await agent.connect("/ws?observe=1");
  const times: number[] = [];
  for (let i = 0; i < trials; i++) times.push(await estopTrial(controller, observer, i));
  return times;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { trials: { type: "string", default: "20" }, quick: { type: "boolean" } },
  });
  const trials = values.quick ? 3 : Number(values.trials);
  out(
    `Link gone dark (SIGSTOP) → stop() hook, link_timeout_ms 500: ${
      summary(await linkLoss(trials))
    }`,
  );
  out(
    `estop → stop() hook, 1,000 calls queued, a 50 MB upload running: ${
      summary(await estopUnderLoad(trials))
    }`,
  );
}
