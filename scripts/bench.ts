/**
 * Issue 4's benchmark: starts the agent the way a user does (`deno task start`), drives it
 * over a real WebSocket, and prints a table of results against the issue's targets, then
 * the same results as JSON.
 *
 * `deno task bench [--quick] [--write] [--chunk-mib N] [--window N]`
 *
 * - `--quick`: every scenario with small counts and sizes (for CI; under a minute).
 * - `--write`: also saves the JSON to `docs/bench-results.json`.
 * - `--chunk-mib`, `--window`: chunk size and chunks in flight of the chunked uploads.
 * - `--only start,calls,updates,control,results`: run only these groups of scenarios (for
 *   A/B runs).
 *
 * A missed target is reported, never fatal. The exit code is 1 only when something is
 * broken: a lost or duplicated callback, an unexpected error, a timeout.
 *
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { encodeChunk } from "../gateway/mod.ts";
import { delay, makeZip, type Message, sha256, startAgent } from "../tests/_agent.ts";
import { BenchClient, type CallResult } from "./_bench_client.ts";
import {
  type MemoryPeaks,
  MemorySampler,
  pidsOf,
  PROCESS_NAMES,
  type ProcessName,
} from "./_bench_memory.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/**
 * The benchmark's client shares this process's busy thread and may answer pings late,
 * which a 500 ms link timeout would (rightly) take for a dark link; the link-loss scenario
 * sets its own.
 */
const BENCH_CONFIG = "safety:\n  link_timeout_ms: 30000\n";
const MIB = 1024 * 1024;

/**
 * The projects of scenarios 1–3: a sync no-op, as robot SDK methods are sync (the host
 * then serves it without asyncio), and an async one, each in its own project.
 */
const SYNC_PROJECT = `class Bench:
    def noop(self):
        return None
`;
const ASYNC_PROJECT = `class Bench:
    async def anoop(self):
        return None
`;

/** Codes a call may meet while the worker restarts; the caller retries. */
const RESTART_CODES = new Set([
  "WORKER_EXITED",
  "WORKER_UNAVAILABLE",
  "EXECUTOR_EXITED",
  "NOT_STARTED",
]);

/** Sizes and counts of one run. */
interface Plan {
  quick: boolean;
  warmupCalls: number;
  sequentialCalls: number;
  pipelinedCalls: number;
  oneMessageBytes: number;
  chunkedBytes: number;
  chunkBytes: number;
  window: number;
  controlBytes: number;
  controlSeconds: number;
  startTrials: number;
  cloudFloats: number;
  cloudCalls: number;
}

/** One line of the results table. */
interface Row {
  scenario: string;
  metric: string;
  result: string;
  target: string;
  verdict: "pass" | "miss" | "—";
}

// ---------------------------------------------------------------------------------------
// Output

/** The benchmark's only way to print. */
function out(text = ""): void {
  // deno-lint-ignore no-console -- the benchmark's own output
  console.log(text);
}

function ms(value: number): string {
  return value < 10 ? `${value.toFixed(3)} ms` : `${value.toFixed(0)} ms`;
}

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}

function showPeaks(peaks: MemoryPeaks): string {
  const parts = PROCESS_NAMES.filter((name) => peaks.peak[name] > 0)
    .map((name) => `${name} ${mib(peaks.peak[name])}`);
  return `${mib(peaks.sum)} (${parts.join(", ")})`;
}

function verdict(ok: boolean, judged = true): Row["verdict"] {
  return judged ? (ok ? "pass" : "miss") : "—";
}

// ---------------------------------------------------------------------------------------
// Statistics

interface Spread {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function spread(values: number[]): Spread {
  const sorted = values.toSorted((a, b) => a - b);
  const at = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
  return { n: sorted.length, p50: at(50), p90: at(90), p99: at(99), max: sorted.at(-1) ?? NaN };
}

function median(values: number[]): number {
  return spread(values).p50;
}

function showSpread(s: Spread): string {
  return `p50 ${ms(s.p50)} · p90 ${ms(s.p90)} · p99 ${ms(s.p99)} · max ${ms(s.max)}`;
}

/** Whether `promise` settles within `timeoutMs`. */
async function within(promise: Promise<unknown>, timeoutMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) =>
    timer = setTimeout(() => resolve(false), timeoutMs)
  );
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------
// A WebSocket client that routes by id in O(1), so 20,000 calls in flight stay cheap

/** A zip of `files` plus one stored entry of random bytes, about `size` bytes in all. */
async function paddedZip(size: number, files: Record<string, string>): Promise<Uint8Array> {
  const padding = new Uint8Array(Math.max(0, size - 1000));
  for (let at = 0; at < padding.length; at += 65536) {
    crypto.getRandomValues(padding.subarray(at, at + 65536));
  }
  return await makeZip({ ...files, "padding.bin": padding }, { level: 0 });
}

/** Deploys and starts a small project. */
async function deploy(client: BenchClient, main: string): Promise<void> {
  const zip = await makeZip({ "main.py": main });
  const updated = await client.request({ command: "update", data: zip.toBase64() });
  if (updated.status !== "success") throw new Error(`Cannot deploy: ${updated.message}`);
  const started = await client.request({ command: "start" });
  if (started.status !== "success") throw new Error(`Cannot start: ${started.message}`);
}

/** A zip cut into chunk messages ready to send, before the clock starts. */
interface PreparedUpload {
  size: number;
  sha256: string;
  binary: boolean;
  messages: (Uint8Array | string)[];
  /** The client ids of the messages (binary chunks carry theirs in the header). */
  ids: number[];
}

async function prepareUpload(
  client: BenchClient,
  zip: Uint8Array,
  options: { binary: boolean; chunkBytes: number },
): Promise<PreparedUpload> {
  const digest = await sha256(zip);
  const messages: (Uint8Array | string)[] = [];
  const ids: number[] = [];
  for (let offset = 0; offset < zip.length; offset += options.chunkBytes) {
    const data = zip.subarray(offset, offset + options.chunkBytes);
    const id = client.newId();
    ids.push(id);
    // The agent names an upload by its sha256 (checked against upload_begin's reply).
    messages.push(
      options.binary ? encodeChunk(digest, offset, data, id) : JSON.stringify({
        command: "upload_chunk",
        id,
        params: { upload_id: digest, offset, data: data.toBase64() },
      }),
    );
  }
  return { size: zip.length, sha256: digest, binary: options.binary, messages, ids };
}

/**
 * Sends a prepared upload with up to `window` chunks unacknowledged; resolves with the
 * final reply (the deploy's outcome, under upload_begin's id) and the time from
 * upload_begin to it.
 */
async function upload(
  client: BenchClient,
  prepared: PreparedUpload,
  options: { window: number },
): Promise<{ ms: number; reply: Message }> {
  const t0 = performance.now();
  const begin = await client.request({
    command: "upload_begin",
    params: { size: prepared.size, sha256: prepared.sha256 },
  });
  if (begin.status !== "success") throw new Error(`upload_begin failed: ${begin.message}`);
  if (begin.data.upload_id !== prepared.sha256 || begin.data.offset !== 0) {
    throw new Error(`upload_begin answered ${JSON.stringify(begin.data)}; expected a fresh upload`);
  }
  const final = client.reply(begin.id);
  final.catch(() => {}); // Raced below; a refused chunk ends the upload first.
  const refused = Promise.withResolvers<never>();
  // Text chunks are each answered by a reply (the last one too); binary chunks by an
  // upload_progress event, except the last, whose answer is the final reply.
  const acks = Promise.withResolvers<void>();
  const expected = prepared.binary ? prepared.messages.length - 1 : prepared.messages.length;
  const last = prepared.messages.length - 1;
  let sent = 0;
  let acked = 0;
  const sendMore = () => {
    while (sent <= last && sent - acked < options.window) {
      client.socket.send(prepared.messages[sent++]);
    }
  };
  const onAck = (message: Message) => {
    if (message.status === "error") {
      refused.reject(new Error(`Chunk refused: ${message.code}: ${message.message}`));
      return;
    }
    if (++acked === expected) acks.resolve();
    sendMore();
  };
  for (const id of prepared.ids) client.expect(id, onAck);
  const stopEvents = prepared.binary ? client.onEvent("upload_progress", onAck) : () => {};
  if (expected === 0) acks.resolve();
  try {
    sendMore();
    const reply = await Promise.race([final, refused.promise]);
    const elapsed = performance.now() - t0;
    await Promise.race([acks.promise, refused.promise]);
    return { ms: elapsed, reply };
  } finally {
    stopEvents();
    client.forget(prepared.ids);
  }
}

// ---------------------------------------------------------------------------------------
// Scenarios

interface Context {
  plan: Plan;
  sampler: MemorySampler;
  rows: Row[];
  details: Record<string, unknown>;
  /** Things that are broken (not missed targets): any makes the exit code 1. */
  problems: string[];
}

/** "ok", "lost", or the error code of a call that failed. */
function outcome(result: CallResult): string {
  if (result.lost) return "lost";
  if (result.callback?.data.ok) return "ok";
  return result.ack?.code ?? result.callback?.data.error?.code ?? "unknown";
}

/** Counts of outcome codes, e.g. "45 lost, 1 CANCELLED". */
function tally(codes: string[]): string {
  const counts = Map.groupBy(codes, (code) => code);
  return [...counts].map(([code, list]) => `${list.length} ${code}`).join(", ");
}

function range(values: number[]): string {
  return `median ${ms(median(values))} (min ${ms(Math.min(...values))}, max ${
    ms(Math.max(...values))
  }, n ${values.length})`;
}

/** 4, 5, 6: cold start, idle RSS and worker restart after SIGKILL, on fresh agents. */
async function startScenarios(ctx: Context): Promise<void> {
  const { plan, rows, problems } = ctx;
  const listening: number[] = [];
  const cold: number[] = [];
  const restart: number[] = [];
  /** The calls that failed before the first success after each kill. */
  const retries: string[] = [];
  const idle: Record<ProcessName | "total", number>[] = [];
  const idlePss: Record<ProcessName | "total", number>[] = [];
  for (let trial = 0; trial < plan.startTrials; trial++) {
    const t0 = performance.now();
    await using agent = await startAgent({ config: BENCH_CONFIG });
    listening.push(performance.now() - t0);
    await using client = await BenchClient.open(agent.url);
    const first = await client.call("sport_client", "GetState", {}, 30_000);
    if (outcome(first) !== "ok") {
      problems.push(`cold start: the first call ended ${outcome(first)}`);
      continue;
    }
    cold.push(first.callbackAt - t0);

    await delay(1000);
    const pids = await pidsOf(agent, client);
    const rss = await ctx.sampler.rss(pids);
    idle.push({ ...rss, total: rss.gateway + rss.worker + rss.python });
    const pss = await ctx.sampler.rss(pids, "pss");
    idlePss.push({ ...pss, total: pss.gateway + pss.worker + pss.python });

    const killedAt = performance.now();
    Deno.kill(pids.worker, "SIGKILL");
    // Calls meet the restart as an error (retry) or are held until the worker is back.
    const failed: string[] = [];
    for (;;) {
      const result = await client.call("sport_client", "GetState", {}, 30_000);
      const code = outcome(result);
      if (code === "ok") {
        restart.push(result.callbackAt - killedAt);
        retries.push(tally(failed) || "none");
        break;
      }
      failed.push(code);
      if (!RESTART_CODES.has(code) || performance.now() - killedAt > 30_000) {
        problems.push(`worker restart: a call ended ${code}: ${JSON.stringify(result.ack)}`);
        break;
      }
    }
    if ((await pidsOf(agent, client)).worker === pids.worker) {
      problems.push("worker restart: the worker pid did not change");
    }
  }
  if (cold.length > 0) {
    rows.push({
      scenario: "4 cold start",
      metric: "launch → first GetState callback",
      result: range(cold),
      target: "≤ 500 ms",
      verdict: verdict(median(cold) <= 500),
    }, {
      scenario: "4 cold start",
      metric: "launch → listening (port printed)",
      result: range(listening),
      target: "—",
      verdict: "—",
    });
  }
  if (restart.length > 0) {
    rows.push({
      scenario: "5 worker kill",
      metric: "SIGKILL → first successful call",
      result: `${range(restart)}; calls failed before it: ${retries.join("; ")}`,
      target: "≤ 500 ms",
      verdict: verdict(median(restart) <= 500),
    });
  }
  if (idle.length > 0) {
    const med = (runs: typeof idle, name: ProcessName | "total") =>
      mib(median(runs.map((r) => r[name])));
    const show = (runs: typeof idle) =>
      `total ${med(runs, "total")} (gateway ${med(runs, "gateway")}, worker ${
        med(runs, "worker")
      }, python ${med(runs, "python")})`;
    rows.push({
      scenario: "6 idle RSS",
      metric: "1 s after the first call, default project (median)",
      result: show(idle),
      target: "total ≤ 120 MiB",
      verdict: verdict(median(idle.map((r) => r.total)) <= 120 * MIB),
    }, {
      scenario: "6 idle RSS",
      metric: "… as PSS: the Deno binary's code, shared by gateway and worker, counted once",
      result: show(idlePss),
      target: "—",
      verdict: "—",
    });
  }
  ctx.details.start = { listening, cold, restart, retries, idle, idlePss };
}

/** 1: sequential no-op calls of `method` (`noop` is sync, `anoop` async). */
async function sequential(ctx: Context, client: BenchClient, method: string): Promise<void> {
  const { plan, rows, problems } = ctx;
  const kind = method === "noop" ? "sync" : "async";
  const acks: number[] = [];
  const callbacks: number[] = [];
  const failures: string[] = [];
  for (let i = 0; i < plan.warmupCalls + plan.sequentialCalls; i++) {
    // A no-op that takes a second is as good as lost.
    const result = await client.call("Bench", method, {}, 1000);
    const code = outcome(result);
    if (code !== "ok") failures.push(code);
    else if (i >= plan.warmupCalls) {
      acks.push(result.ackAt - result.sent);
      callbacks.push(result.callbackAt - result.sent);
    }
  }
  const failed = tally(failures);
  if (failed) problems.push(`sequential ${method}: calls ended ${failed}`);
  const ack = spread(acks);
  const callback = spread(callbacks);
  rows.push({
    scenario: "1 sequential no-op",
    metric: `${kind} ACK latency (n ${ack.n})`,
    result: showSpread(ack),
    target: "—",
    verdict: "—",
  }, {
    scenario: "1 sequential no-op",
    metric: `${kind} callback latency (n ${callback.n})`,
    result: showSpread(callback) + (failed ? `; not completed: ${failed}` : ""),
    target: "p50 ≤ 0.3 ms, p99 ≤ 1 ms",
    verdict: verdict(callback.p50 <= 0.3 && callback.p99 <= 1),
  });
  ctx.details[`sequential_${kind}`] = { ack, callback, failed };
}

/** 2: `pipelinedCalls` calls of `method` sent at once; each id gets one ACK and one callback. */
async function pipelined(ctx: Context, client: BenchClient, method: string): Promise<void> {
  const { plan, rows, problems } = ctx;
  const kind = method === "noop" ? "sync" : "async";
  const strayBefore = client.stray.length;
  let last = 0;
  let ok = 0;
  let failed = 0;
  let lost = 0;
  const t0 = performance.now();
  const calls: Promise<void>[] = [];
  for (let i = 0; i < plan.pipelinedCalls; i++) {
    calls.push(
      client.call("Bench", method, {}, 0).then((result) => {
        const code = outcome(result);
        if (code === "lost") return void lost++;
        last = Math.max(last, result.callbackAt || result.ackAt);
        if (code === "ok") ok++;
        else failed++;
      }),
    );
  }
  const sent = performance.now();
  // No per-call timers: give up on the rest once nothing has arrived for 3 s.
  const all = Promise.all(calls);
  for (let seen = -1; !(await within(all, 3000)) && ok + failed > seen;) seen = ok + failed;
  client.abandonCalls();
  await all;
  // A duplicate would come late, if at all.
  await delay(200);
  const duplicates = client.stray.length - strayBefore;
  const accounted = lost === 0 && failed === 0 && duplicates === 0;
  if (!accounted) {
    problems.push(
      `pipelined ${method}: ${lost} lost, ${failed} failed, ${duplicates} stray messages ` +
        JSON.stringify(client.stray.slice(strayBefore, strayBefore + 2)),
    );
  }
  const elapsed = last - t0;
  const rate = (ok / elapsed) * 1000;
  rows.push({
    scenario: "2 pipelined no-op",
    metric: `${kind}: ${plan.pipelinedCalls} calls in flight`,
    result: `${Math.round(rate)} callbacks/s (last after ${ms(elapsed)}; sending took ${
      ms(sent - t0)
    }); lost ${lost}, failed ${failed}, duplicates ${duplicates}`,
    target: "≥ 20,000/s, all accounted for",
    verdict: verdict(rate >= 20_000 && accounted),
  });
  ctx.details[`pipelined_${kind}`] = { ms: elapsed, rate, ok, lost, failed, duplicates };
}

type Timed = { ms: number; reply: Message };

/**
 * Runs one UPDATE on a fresh agent, so that memory kept from earlier work does not count,
 * with the project started (python runs, as it would on a robot) and memory sampled.
 * `prepare` builds the messages before the clock starts and returns the timed send.
 */
async function measureUpdate(
  ctx: Context,
  prepare: (client: BenchClient) => Promise<() => Promise<Timed>>,
): Promise<Timed & { before: number; peaks: MemoryPeaks }> {
  await using agent = await startAgent({ config: BENCH_CONFIG });
  await using client = await BenchClient.open(agent.url);
  await deploy(client, SYNC_PROJECT);
  const send = await prepare(client);
  const pids = await pidsOf(agent, client);
  const rss = await ctx.sampler.rss(pids);
  await ctx.sampler.start(pids);
  let sent: Timed;
  try {
    sent = await send();
  } catch (error) {
    await ctx.sampler.stop();
    throw error;
  }
  const peaks = await ctx.sampler.stop();
  if (client.stray.length > 0) {
    ctx.problems.push(`update: stray messages ${JSON.stringify(client.stray.slice(0, 2))}`);
  }
  return { ...sent, before: rss.gateway + rss.worker + rss.python, peaks };
}

/** 3: large UPDATEs, one message (base64, binary) and chunked (binary, base64). */
async function updates(ctx: Context): Promise<void> {
  const { plan, rows, problems } = ctx;
  const full = !plan.quick;
  const one = await paddedZip(plan.oneMessageBytes, { "main.py": SYNC_PROJECT });
  const big = await paddedZip(plan.chunkedBytes, { "main.py": SYNC_PROJECT });
  const runs = [
    {
      name: `${mib(one.length)} zip, one base64 message`,
      target: 1000,
      chunked: false,
      prepare: (client: BenchClient) => {
        const id = client.newId();
        const message = JSON.stringify({ command: "update", id, data: one.toBase64() });
        return Promise.resolve(() => sendTimed(client, message, id));
      },
    },
    {
      name: `${mib(one.length)} zip, one binary message`,
      target: 500,
      chunked: false,
      // A binary UPDATE carries no id: its reply is the next one without an id.
      prepare: (client: BenchClient) => Promise.resolve(() => sendTimed(client, one, undefined)),
    },
    ...[true, false].map((binary) => ({
      name: `${mib(big.length)} zip, chunked ${binary ? "binary" : "base64"} (${
        Math.ceil(big.length / plan.chunkBytes)
      } × ${mib(plan.chunkBytes)}, window ${plan.window})`,
      target: binary ? 1000 : 2000,
      chunked: true,
      prepare: async (client: BenchClient) => {
        const prepared = await prepareUpload(client, big, { binary, chunkBytes: plan.chunkBytes });
        return () => upload(client, prepared, { window: plan.window });
      },
    })),
  ];
  const results: Record<string, unknown> = {};
  for (const { name, target, chunked, prepare } of runs) {
    const result = await measureUpdate(ctx, prepare);
    results[name] = result;
    if (result.reply.status !== "success") {
      problems.push(`update ${name}: ${result.reply.code}: ${result.reply.message}`);
      continue;
    }
    rows.push({
      scenario: "3 UPDATE",
      metric: `${name}: time to ${chunked ? "final " : ""}reply`,
      result: ms(result.ms) + (chunked ? "" : `; peak RSS ${showPeaks(result.peaks)}`),
      target: `≤ ${target / 1000} s`,
      verdict: verdict(result.ms <= target, full),
    });
    if (chunked) {
      rows.push({
        scenario: "3 UPDATE",
        metric: `${name}: peak RSS of all processes`,
        result: `${showPeaks(result.peaks)}; before ${mib(result.before)}`,
        target: `≤ 2 × zip = ${mib(2 * big.length)}`,
        verdict: verdict(result.peaks.sum <= 2 * big.length, full),
      });
    }
  }
  ctx.details.updates = results;
}

/** Sends one whole-zip UPDATE and times it to its reply. */
async function sendTimed(
  client: BenchClient,
  message: string | Uint8Array,
  id: number | undefined,
): Promise<Timed> {
  const reply = client.reply(id);
  const t0 = performance.now();
  client.socket.send(message);
  const answer = await reply;
  return { ms: performance.now() - t0, reply: answer };
}

/** Sends Move at 100 Hz for `seconds`, not waiting for one call before the next. */
async function moveLoop(
  client: BenchClient,
  seconds: number,
): Promise<
  { latencies: number[]; failures: string[]; samples: { sent: number; latency: number }[] }
> {
  const latencies: number[] = [];
  const failures: string[] = [];
  const samples: { sent: number; latency: number }[] = [];
  const calls: Promise<void>[] = [];
  const t0 = performance.now();
  for (let tick = 0; tick < seconds * 100; tick++) {
    const wait = t0 + tick * 10 - performance.now();
    if (wait > 0) await delay(wait);
    const args = { vx: 0.3, vy: 0, vyaw: tick % 2 === 0 ? 0.2 : -0.2 };
    calls.push(
      client.call("sport_client", "Move", args).then((result) => {
        const code = outcome(result);
        if (code === "ok") {
          latencies.push(result.callbackAt - result.sent);
          samples.push({ sent: result.sent, latency: result.callbackAt - result.sent });
        } else failures.push(code);
      }),
    );
  }
  await Promise.all(calls);
  return { latencies, failures, samples };
}

/**
 * 7: Move at 100 Hz while chunked UPDATEs of `controlBytes` run back to back. The zip
 * holds no entry point: the agent receives, hashes and extracts all of it, then refuses
 * it (NO_PROJECT), so the running project is untouched and every tick is measured. (A
 * real deploy stops the project until the next START, which would pause the control.)
 */
async function controlUnderLoad(ctx: Context, client: BenchClient): Promise<void> {
  const { plan, rows, problems } = ctx;
  // The default project is the simulated robot; warm its path up, then let it settle.
  for (const method of ["StandUp", "GetState", "GetState", "GetState", "GetState"]) {
    const result = await client.call("sport_client", method);
    if (outcome(result) !== "ok") throw new Error(`${method} ended ${outcome(result)}`);
  }
  await delay(500);
  const baselineSeconds = Math.min(2, plan.controlSeconds);
  const idle = await moveLoop(client, baselineSeconds);

  const zip = await paddedZip(plan.controlBytes, { "notes.txt": "no entry point" });
  const prepared = await prepareUpload(client, zip, { binary: true, chunkBytes: plan.chunkBytes });
  // The scenario: one UPDATE while Move runs at 100 Hz for the whole window.
  const single = (async () => {
    await delay(1000);
    const started = performance.now();
    const { reply } = await upload(client, prepared, { window: plan.window });
    if (reply.code !== "NO_PROJECT") {
      throw new Error(`Upload ended ${reply.code ?? reply.status}: ${reply.message}`);
    }
    return { started, ended: performance.now() };
  })();
  const once = await moveLoop(client, plan.controlSeconds);
  const span = await single;
  const onceSpread = spread(once.latencies);
  const during = once.samples
    .filter((sample) => sample.sent >= span.started && sample.sent <= span.ended)
    .map((sample) => sample.latency);
  if (once.failures.length > 0) {
    problems.push(`Move with one upload: calls ended ${tally(once.failures)}`);
  }
  rows.push({
    scenario: "7 control under load",
    metric: `Move at 100 Hz (${plan.controlSeconds} s) while one ${
      mib(zip.length)
    } chunked UPDATE runs`,
    result: `${showSpread(onceSpread)}; the ${during.length} Moves during the upload (${
      Math.round(span.ended - span.started)
    } ms): ${showSpread(spread(during))}`,
    target: "p99 ≤ 5 ms",
    verdict: verdict(onceSpread.p99 <= 5, !plan.quick),
  });
  await delay(500);

  // A harder variant: uploads back to back for the whole window, all CPU on bulk work.
  let windowOpen = true;
  const uploads: number[] = [];
  let inWindow = 0;
  const uploader = (async () => {
    while (windowOpen) {
      const { ms, reply } = await upload(client, prepared, { window: plan.window });
      if (reply.code !== "NO_PROJECT") {
        throw new Error(`Upload ended ${reply.code ?? reply.status}: ${reply.message}`);
      }
      uploads.push(ms);
      if (windowOpen) inWindow++;
    }
  })();
  let loaded;
  try {
    loaded = await moveLoop(client, plan.controlSeconds);
  } finally {
    windowOpen = false;
    await uploader;
  }
  for (const [name, { failures }] of [["idle", idle], ["under load", loaded]] as const) {
    if (failures.length > 0) problems.push(`Move ${name}: calls ended ${tally(failures)}`);
  }
  const idleSpread = spread(idle.latencies);
  const loadedSpread = spread(loaded.latencies);
  const missing = (failures: string[]) =>
    failures.length ? `; not completed: ${tally(failures)}` : "";
  rows.push({
    scenario: "7 control under load",
    metric: `Move at 100 Hz, no upload (${baselineSeconds} s)`,
    result: showSpread(idleSpread) + missing(idle.failures),
    target: "—",
    verdict: "—",
  }, {
    scenario: "7 control under load",
    metric: `Move at 100 Hz during back-to-back ${
      mib(zip.length)
    } chunked binary uploads (${plan.controlSeconds} s), a stress beyond the issue's scenario`,
    result: showSpread(loadedSpread) + missing(loaded.failures),
    target: "—",
    verdict: "—",
  }, {
    scenario: "7 control under load",
    metric: "uploads (received, hashed, extracted, refused as NO_PROJECT) in the window",
    result: `${inWindow} (+1 finishing after); each ${range(uploads)}`,
    target: "—",
    verdict: "—",
  });
  ctx.details.control = {
    idle: idleSpread,
    loaded: loadedSpread,
    failures: { idle: idle.failures, loaded: loaded.failures },
    uploadsInWindow: inWindow,
    uploadMs: uploads,
  };
}

/** Runs `scenario` with a client of a fresh agent, and checks for stray messages after. */
/**
 * 8 (no target in issue 4): long JSON, one call at a time: a call whose result is a point
 * cloud of `plan.cloudFloats` floats, a `push_message` event of the same data, and a call
 * that takes such a list as its args. Time to the callback (or event) and CPU per call of
 * each process. Long JSON crosses the worker (and, from Python, the gateway) unparsed.
 */
async function largeJson(ctx: Context): Promise<void> {
  const { plan, rows, problems } = ctx;
  const project = `import random
_cloud = [round(random.uniform(-10, 10), 4) for _ in range(${plan.cloudFloats})]
class Sensors:
    def cloud(self):
        return _cloud
    def push_cloud(self):
        push_message("cloud", _cloud)
    def follow(self, points):
        return len(points)
`;
  const points = Array.from({ length: plan.cloudFloats }, (_, i) => Math.round(i * 37 % 2e5) / 1e4);
  await using agent = await startAgent({ config: BENCH_CONFIG });
  await using client = await BenchClient.open(agent.url);
  await deploy(client, project);
  const pids = await pidsOf(agent, client);
  const all = [pids.gateway, pids.worker, pids.python ?? pids.worker, Deno.pid];
  const runs = [
    { method: "cloud", args: {}, what: "result" },
    { method: "push_cloud", args: {}, what: "push_message event" },
    { method: "follow", args: { points }, what: "args" },
  ];
  for (const { method, args, what } of runs) {
    const times: number[] = [];
    let bytes = 0;
    let before: number[] = [];
    for (let i = 0; i < 3 + plan.cloudCalls; i++) {
      if (i === 3) before = await ctx.sampler.cpuMs(all);
      const event = Promise.withResolvers<number>();
      const stop = client.onEvent("cloud", (message, at) => {
        if (i === 0) bytes = JSON.stringify(message).length;
        event.resolve(at);
      });
      const result = await client.call("Sensors", method, args, 10_000);
      if (outcome(result) !== "ok") {
        problems.push(`large JSON: ${method} ended ${outcome(result)}`);
      }
      const at = method === "push_cloud" ? await event.promise : result.callbackAt;
      stop();
      if (i === 0 && method === "cloud") bytes = JSON.stringify(result.callback).length;
      if (i === 0 && method === "follow") bytes = JSON.stringify(args).length;
      if (i >= 3) times.push(at - result.sent);
    }
    const after = await ctx.sampler.cpuMs(all);
    const per = after.map((value, k) => (value - before[k]) / plan.cloudCalls);
    const [gateway, worker, python, benchClient] = per.map((value) => `${value.toFixed(1)} ms`);
    const s = spread(times);
    rows.push({
      scenario: "8 large JSON",
      metric: `${what} of ${plan.cloudFloats} floats (${
        mib(bytes)
      } of JSON), one call at a time (n ${s.n})`,
      result: `p50 ${ms(s.p50)} · p90 ${
        ms(s.p90)
      }; CPU per call: gateway ${gateway}, worker ${worker}, python ${python}, client ${benchClient}`,
      target: "—",
      verdict: "—",
    });
    ctx.details[`large_${method}`] = { spread: s, bytes, cpuMsPerCall: per };
  }
}

async function onFreshAgent(
  ctx: Context,
  scenario: (ctx: Context, client: BenchClient) => Promise<void>,
): Promise<void> {
  await using agent = await startAgent({ config: BENCH_CONFIG });
  await using client = await BenchClient.open(agent.url);
  await scenario(ctx, client);
  if (client.stray.length > 0) {
    ctx.problems.push(`stray messages: ${JSON.stringify(client.stray.slice(0, 3))}`);
  }
}

// ---------------------------------------------------------------------------------------
// Main

async function machine(): Promise<Record<string, unknown>> {
  const run = (program: string, args: string[]) =>
    new Deno.Command(program, { args }).output()
      .then((o) => new TextDecoder().decode(o.stdout).trim())
      .catch(() => "unknown");
  const lscpu = await run("lscpu", []);
  return {
    cpus: navigator.hardwareConcurrency,
    cpu: /Model name:\s*(.*)/.exec(lscpu)?.[1] ?? "unknown",
    memoryMiB: Math.round(Deno.systemMemoryInfo().total / MIB),
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    python: `${await run("python3", ["--version"])} (python3 is ${await run("sh", [
      "-c",
      "command -v python3",
    ])})`,
    idle: await idleSetting(),
  };
}

/**
 * How the CPUs idle: on a KVM guest with halt polling off (`guest_halt_poll_ns` 0), every
 * wake-up of a process on an idle vCPU goes through the host, which sets the floor of the
 * call latencies (docs/performance.md).
 */
async function idleSetting(): Promise<string> {
  // Deno reads /sys only with --allow-all; `cat` needs no more than --allow-run.
  const read = (path: string) =>
    new Deno.Command("cat", { args: [path], stderr: "null" }).output()
      .then((o) => o.success ? new TextDecoder().decode(o.stdout).trim() : null, () => null);
  const driver = await read("/sys/devices/system/cpu/cpuidle/current_driver") ?? "none";
  const poll = await read("/sys/module/haltpoll/parameters/guest_halt_poll_ns");
  return poll === null ? `cpuidle ${driver}` : `cpuidle ${driver}, guest_halt_poll_ns ${poll}`;
}

function table(rows: Row[]): string {
  const lines = [
    "| Scenario | Metric | Result | Target | Verdict |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const row of rows) {
    lines.push(
      `| ${row.scenario} | ${row.metric} | ${row.result} | ${row.target} | ${row.verdict} |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      quick: { type: "boolean", default: false },
      write: { type: "boolean", default: false },
      "chunk-mib": { type: "string", default: "1" },
      window: { type: "string", default: "2" },
      only: { type: "string", default: "start,calls,updates,control,results" },
    },
    strict: true,
  });
  const chunkBytes = Number(values["chunk-mib"]) * MIB;
  const window = Number(values.window);
  const groups = new Set(values.only.split(","));
  if (!(chunkBytes > 0 && chunkBytes <= 8 * MIB) || !(Number.isInteger(window) && window > 0)) {
    out("bench: --chunk-mib must be in (0, 8] and --window a positive integer");
    return 2;
  }
  const plan: Plan = values.quick
    ? {
      quick: true,
      warmupCalls: 50,
      sequentialCalls: 300,
      pipelinedCalls: 2000,
      oneMessageBytes: 4 * MIB,
      chunkedBytes: 10 * MIB,
      chunkBytes: Math.min(chunkBytes, 2 * MIB),
      window,
      controlBytes: 5 * MIB,
      controlSeconds: 2,
      startTrials: 1,
      cloudFloats: 20_000,
      cloudCalls: 5,
    }
    : {
      quick: false,
      warmupCalls: 200,
      sequentialCalls: 2000,
      pipelinedCalls: 20_000,
      oneMessageBytes: 40 * MIB,
      chunkedBytes: 100 * MIB,
      chunkBytes,
      window,
      controlBytes: 50 * MIB,
      controlSeconds: 10,
      startTrials: 5,
      cloudFloats: 100_000,
      cloudCalls: 30,
    };
  await using sampler = new MemorySampler();
  const ctx: Context = { plan, sampler, rows: [], details: {}, problems: [] };
  const began = performance.now();
  // Other work on the machine skews every number: the load average is kept with them.
  const loadBefore = Deno.loadavg();
  out(
    `robot-agent benchmark (issue 4), ${plan.quick ? "quick" : "full"} run; load average ${
      loadBefore.map((n) => n.toFixed(2)).join(" ")
    }; ${await idleSetting()}`,
  );
  try {
    if (groups.has("start")) await startScenarios(ctx);
    for (const [project, method] of [[SYNC_PROJECT, "noop"], [ASYNC_PROJECT, "anoop"]]) {
      if (!groups.has("calls")) break;
      await onFreshAgent(ctx, async (ctx, client) => {
        await deploy(client, project);
        await sequential(ctx, client, method);
        await pipelined(ctx, client, method);
      });
    }
    if (groups.has("updates")) await updates(ctx);
    if (groups.has("control")) await onFreshAgent(ctx, controlUnderLoad);
    if (groups.has("results")) await largeJson(ctx);
  } catch (error) {
    ctx.problems.push(`aborted: ${error instanceof Error ? error.stack : error}`);
  }
  const order = (row: Row) => Number(row.scenario[0]);
  ctx.rows.sort((a, b) => order(a) - order(b));
  const git = (args: string[]) =>
    new Deno.Command("git", { args, cwd: ROOT }).output()
      .then((o) => new TextDecoder().decode(o.stdout).trim())
      .catch(() => "unknown");
  const result = {
    benchmark: "robot-agent issue 4",
    date: new Date().toISOString(),
    commit: await git(["rev-parse", "--short", "HEAD"]),
    uncommitted: (await git(["diff", "--name-only", "HEAD"])).split("\n").filter(Boolean),
    mode: plan.quick ? "quick" : "full",
    seconds: Math.round((performance.now() - began) / 100) / 10,
    machine: await machine(),
    loadavg: { before: loadBefore, after: Deno.loadavg() },
    plan,
    rows: ctx.rows,
    details: ctx.details,
    problems: ctx.problems,
  };
  out();
  out(table(ctx.rows));
  if (plan.quick) {
    out("\nQuick run: sizes and counts are reduced, so size-bound targets are not judged.");
  }
  out();
  out(JSON.stringify(result, null, 2));
  if (values.write) {
    await Deno.writeTextFile(
      join(ROOT, "docs", "bench-results.json"),
      JSON.stringify(result, null, 2) + "\n",
    );
  }
  if (ctx.problems.length > 0) {
    out(`\nBROKEN (${ctx.problems.length}):`);
    for (const problem of ctx.problems) out(`- ${problem}`);
    return 1;
  }
  return 0;
}

if (import.meta.main) Deno.exitCode = await main();
