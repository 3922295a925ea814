/**
 * The fleet benchmark (docs/fleet.md): one `nats-server -js` and N agents on this machine
 * (own storage, port 0 each), then
 *
 * 1. the gateway's memory with the fleet off (a few agents without `fleet:`) and on
 *    (every fleet agent, idle after joining);
 * 2. a deploy of a project of SIZE MB (incompressible) to all of them: the deployer's
 *    bytes sent, and the time until each robot has converged (probation included);
 * 3. fan-out calls (`arm.wave` on every robot at once): per-robot latency p50/p99, and
 *    the time until the last robot answered.
 *
 * `deno run -A scripts/bench_fleet.ts [--agents 50] [--size-mb 10] [--calls 30]
 * [--probation-s 2] [--json FILE]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { FleetClient, type RobotRecord } from "../fleet/mod.ts";
import type { Agent } from "../tests/_agent.ts";
import { startAgent } from "../tests/_agent.ts";
import { ARM_PROJECT, fleetConfig } from "../tests/_fleet.ts";
import { startBroker } from "../tests/_nats.ts";
import { zipFolder } from "../cli/_zip_folder.ts";

const flags = parseArgs({
  args: Deno.args,
  options: {
    agents: { type: "string", default: "50" },
    "size-mb": { type: "string", default: "10" },
    calls: { type: "string", default: "30" },
    "probation-s": { type: "string", default: "2" },
    "baseline-agents": { type: "string", default: "4" },
    json: { type: "string" },
  },
}).values;
const AGENTS = Number(flags.agents);
const SIZE = Number(flags["size-mb"]) * 1024 * 1024;
const CALLS = Number(flags.calls);
const PROBATION_S = Number(flags["probation-s"]);
const BASELINE = Number(flags["baseline-agents"]);

// deno-lint-ignore no-console -- the script's own output
const say = (text: string) => console.log(text);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function rssOf(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts agents a few at a time (each start is CPU-bound on this 2-core machine). */
async function startMany(count: number, start: (i: number) => Promise<Agent>): Promise<Agent[]> {
  const agents: Agent[] = [];
  for (let i = 0; i < count; i += 4) {
    const batch = Array.from({ length: Math.min(4, count - i) }, (_, k) => start(i + k));
    agents.push(...await Promise.all(batch));
  }
  return agents;
}

async function gatewayMemory(agents: Agent[]): Promise<number> {
  await sleep(3000);
  const sizes = await Promise.all(agents.map((agent) => rssOf(agent.child.pid)));
  return sizes.reduce((a, b) => a + b, 0) / sizes.length;
}

async function projectZip(): Promise<Uint8Array> {
  const dir = await Deno.makeTempDir({ prefix: "robot-agent-bench-fleet-" });
  try {
    await Deno.writeTextFile(join(dir, "main.py"), ARM_PROJECT);
    const blob = new Uint8Array(SIZE);
    for (let i = 0; i < SIZE; i += 65536) crypto.getRandomValues(blob.subarray(i, i + 65536));
    await Deno.writeFile(join(dir, "weights.bin"), blob);
    return (await zipFolder(dir)).zip;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** CPU seconds a process spent (user + system), from /proc/PID/stat. */
async function processCpu(pid: number): Promise<number> {
  const fields = (await Deno.readTextFile(`/proc/${pid}/stat`)).split(") ")[1].split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function converge(
  fleet: FleetClient,
  ids: string[],
  zip: Uint8Array,
  brokerPid: number,
) {
  const before = fleet.bytesSent;
  const uploadStart = performance.now();
  const upload = await fleet.upload(zip, { name: "bench" });
  const uploadMs = performance.now() - uploadStart;
  const sent = fleet.bytesSent - before;
  const started = performance.now();
  const entry = await fleet.setDesired({ kind: "all" }, {
    sha256: upload.sha256,
    size: upload.size,
    name: "bench",
  });
  const done = new Map<string, number>();
  const failed = new Map<string, RobotRecord>();
  /** Per state, when each robot was first seen in it (ms after the desired state was set). */
  const reached = new Map<string, Map<string, number>>();
  const cpuBefore = await cpuSeconds();
  const brokerBefore = await processCpu(brokerPid);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 15 * 60_000);
  for await (const record of fleet.watchStatus(abort.signal)) {
    if (record.fleet.deploy_id !== entry.deploy_id || done.has(record.robot_id)) continue;
    const state = reached.get(record.fleet.state) ?? new Map<string, number>();
    reached.set(record.fleet.state, state);
    if (!state.has(record.robot_id)) state.set(record.robot_id, performance.now() - started);
    if (record.fleet.state === "converged") done.set(record.robot_id, performance.now() - started);
    if (record.fleet.state === "failed" || record.fleet.state === "rolled_back") {
      failed.set(record.robot_id, record);
      done.set(record.robot_id, NaN);
    }
    if (done.size === ids.length) break;
  }
  clearTimeout(timer);
  const cpu = (await cpuSeconds()) - cpuBefore;
  const brokerCpu = (await processCpu(brokerPid)) - brokerBefore;
  const times = [...done.values()].filter((t) => !Number.isNaN(t));
  const phases = Object.fromEntries(
    ["deploying", "probation"].map((name) => {
      const values = [...(reached.get(name)?.values() ?? [])];
      return [
        name,
        values.length ? { p50_ms: percentile(values, 50), last_ms: Math.max(...values) } : null,
      ];
    }),
  );
  const wallS = Math.max(...times) / 1000;
  return {
    zipBytes: zip.length,
    sent,
    uploadMs,
    times,
    failed: failed.size,
    phases,
    cpu,
    brokerCpu,
    wallS,
  };
}

/** CPU seconds spent by the whole machine (user + system, all cores), from /proc/stat. */
async function cpuSeconds(): Promise<number> {
  const line = (await Deno.readTextFile("/proc/stat")).split("\n")[0];
  const [user, nice, system] = line.split(/\s+/).slice(1, 4).map(Number);
  return (user + nice + system) / 100;
}

async function fanOut(fleet: FleetClient, ids: string[]) {
  const perRobot: number[] = [];
  const whole: number[] = [];
  let errors = 0;
  await fleet.call(ids, { object: "arm", method: "wave" });
  for (let i = 0; i < CALLS; i++) {
    const started = performance.now();
    const results = await fleet.call(ids, { object: "arm", method: "wave" });
    whole.push(performance.now() - started);
    for (const result of results) {
      if (result.ok) perRobot.push(result.ms);
      else errors++;
    }
  }
  return { perRobot, whole, errors };
}

async function main(): Promise<void> {
  await using stack = new AsyncDisposableStack();
  say(`Fleet benchmark: ${AGENTS} agents, a ${mib(SIZE)} MiB project, ${CALLS} fan-out calls`);
  const baseline = await startMany(BASELINE, () => startAgent({}));
  const offBytes = await gatewayMemory(baseline);
  for (const agent of baseline) await agent[Symbol.asyncDispose]();
  say(`gateway RSS, fleet off: ${mib(offBytes)} MiB (mean of ${BASELINE})`);

  const broker = stack.use(await startBroker());
  const startedAt = performance.now();
  const agents = await startMany(AGENTS, (i) =>
    startAgent({
      config: fleetConfig(broker.url, {
        id: `robot-${String(i).padStart(3, "0")}`,
        labels: { site: i % 2 === 0 ? "lab" : "field" },
        heartbeatS: 5,
        controlIdleS: 30,
        probationS: PROBATION_S,
      }),
    }));
  for (const agent of agents) stack.use(agent);
  say(`${AGENTS} agents started in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
  const fleet = stack.use(await FleetClient.connect({ servers: broker.url }));
  const ids = agents.map((_, i) => `robot-${String(i).padStart(3, "0")}`);
  while ((await fleet.robots()).length < AGENTS) await sleep(200);
  const onBytes = await gatewayMemory(agents);
  say(`gateway RSS, fleet on: ${mib(onBytes)} MiB (mean of ${AGENTS}, joined, idle)`);

  const zip = await projectZip();
  const deploy = await converge(fleet, ids, zip, broker.pid!);
  say(
    `deploy: zip ${mib(deploy.zipBytes)} MiB, deployer sent ${mib(deploy.sent)} MiB ` +
      `(upload ${(deploy.uploadMs / 1000).toFixed(1)} s); converged on ${deploy.times.length}` +
      `/${AGENTS} (${deploy.failed} failed): first ${
        (Math.min(...deploy.times) / 1000).toFixed(1)
      } s, ` +
      `p50 ${(percentile(deploy.times, 50) / 1000).toFixed(1)} s, ` +
      `last ${
        (Math.max(...deploy.times) / 1000).toFixed(1)
      } s (probation ${PROBATION_S} s included)`,
  );
  const phase = (name: string) => {
    const p = deploy.phases[name];
    return p
      ? `p50 ${(p.p50_ms / 1000).toFixed(1)} s, last ${(p.last_ms / 1000).toFixed(1)} s`
      : "-";
  };
  say(`  fetched (deploying): ${phase("deploying")}; started (probation): ${phase("probation")}`);
  say(
    `  CPU: ${deploy.cpu.toFixed(0)} CPU-seconds over ${deploy.wallS.toFixed(1)} s ` +
      `(${
        ((deploy.cpu / deploy.wallS / (navigator.hardwareConcurrency || 1)) * 100).toFixed(0)
      }% ` +
      `of ${navigator.hardwareConcurrency} cores), of which the broker ${
        deploy.brokerCpu.toFixed(1)
      }`,
  );
  const afterDeploy = await gatewayMemory(agents);
  say(`gateway RSS after the deploy: ${mib(afterDeploy)} MiB (mean)`);

  const single = await fanOut(fleet, ids.slice(0, 1));
  say(
    `one robot alone, ${CALLS} calls: p50 ${percentile(single.perRobot, 50).toFixed(1)} ms, ` +
      `p99 ${percentile(single.perRobot, 99).toFixed(1)} ms`,
  );
  const calls = await fanOut(fleet, ids);
  say(
    `fan-out ${CALLS} × ${AGENTS} robots: per robot p50 ${
      percentile(calls.perRobot, 50).toFixed(1)
    } ms, ` +
      `p99 ${percentile(calls.perRobot, 99).toFixed(1)} ms; whole fan-out p50 ` +
      `${percentile(calls.whole, 50).toFixed(1)} ms, p99 ${
        percentile(calls.whole, 99).toFixed(1)
      } ms; ` +
      `${calls.errors} errors`,
  );
  const cpus = (await Deno.readTextFile("/proc/cpuinfo")).match(/^processor/gm)?.length;
  const result = {
    agents: AGENTS,
    cpus,
    size_bytes: SIZE,
    probation_s: PROBATION_S,
    gateway_rss_off_bytes: offBytes,
    gateway_rss_on_bytes: onBytes,
    gateway_rss_after_deploy_bytes: afterDeploy,
    deploy: {
      zip_bytes: deploy.zipBytes,
      deployer_sent_bytes: deploy.sent,
      upload_ms: deploy.uploadMs,
      converged: deploy.times.length,
      failed: deploy.failed,
      phases: deploy.phases,
      cpu_seconds: deploy.cpu,
      broker_cpu_seconds: deploy.brokerCpu,
      first_ms: Math.min(...deploy.times),
      p50_ms: percentile(deploy.times, 50),
      last_ms: Math.max(...deploy.times),
    },
    single_robot_calls: {
      p50_ms: percentile(single.perRobot, 50),
      p99_ms: percentile(single.perRobot, 99),
    },
    calls: {
      rounds: CALLS,
      per_robot_p50_ms: percentile(calls.perRobot, 50),
      per_robot_p99_ms: percentile(calls.perRobot, 99),
      whole_p50_ms: percentile(calls.whole, 50),
      whole_p99_ms: percentile(calls.whole, 99),
      errors: calls.errors,
    },
  };
  if (flags.json) await Deno.writeTextFile(flags.json, JSON.stringify(result, null, 2) + "\n");
}

if (import.meta.main) await main();
