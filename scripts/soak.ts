/**
 * Soak test: many pipelined calls through the real agent with the worker SIGKILLed at
 * intervals; reports lost callbacks (must be 0) and memory over time.
 *
 * `deno run -A scripts/soak.ts [--calls 1000000] [--kill-every 100000] [--window 2000]`
 * (`deno task soak`). CI runs a 20,000-call version through tests/soak_test.ts.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { makeZip, startAgent } from "../tests/_agent.ts";

/** Options for {@linkcode soak}. */
export interface SoakOptions {
  calls: number;
  /** SIGKILL the worker after every this many calls sent (0: never). */
  killEvery: number;
  /** Calls in flight at once. */
  window: number;
  /** Called with each memory sample. */
  onSample?(sample: MemorySample): void;
}

/** Resident memory of each process at one moment, in MiB. */
export interface MemorySample {
  calls: number;
  seconds: number;
  gateway: number;
  worker: number;
  python: number;
}

/** What a soak run observed. */
export interface SoakReport {
  calls: number;
  /** Calls the agent accepted (ACK). */
  accepted: number;
  /** Calls refused before running (e.g. WORKER_EXITED while the request was in flight). */
  refused: number;
  /** Accepted calls whose callback said ok. */
  succeeded: number;
  /** Accepted calls whose callback was an error, by code. */
  failed: Record<string, number>;
  /** Accepted calls without exactly one callback. Must be 0. */
  lost: number;
  /** Callbacks for ids never accepted, or a second callback for one id. Must be 0. */
  unexpected: number;
  kills: number;
  seconds: number;
  samples: MemorySample[];
}

const PROJECT = "class Soak:\n    def noop(self, i):\n        return i\n";

async function rssMiB(pid: number | undefined | null): Promise<number> {
  if (!pid) return 0;
  const output = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)] }).output();
  return Math.round(Number(new TextDecoder().decode(output.stdout).trim() || 0) / 102.4) / 10;
}

/** Runs the soak against a fresh agent and returns what happened. */
export async function soak(options: SoakOptions): Promise<SoakReport> {
  // Kills are deliberate here: raise the crash-loop limit so restarts never stop. The
  // soak's own thread is busy pipelining calls and answers pings late: a link timeout
  // would (rightly) take it for a dark link.
  await using agent = await startAgent({
    config: "log:\n  level: warning\nworker:\n  crash_loop_restarts: 1000\n" +
      "safety:\n  link_timeout_ms: 30000\n",
  });
  await using client = await agent.connect();
  const zip = await makeZip({ "main.py": PROJECT });
  if (
    (await client.request({ command: "update", id: "u", data: zip.toBase64() })).status !==
      "success"
  ) {
    throw new Error("Cannot deploy the soak project");
  }
  if ((await client.request({ command: "start", id: "s" })).status !== "success") {
    throw new Error("Cannot start the soak project");
  }
  // Pipelined traffic bypasses Client's queue: count straight off the socket.
  const acked = new Set<number>();
  const done = new Map<number, number>();
  const report: SoakReport = {
    calls: options.calls,
    accepted: 0,
    refused: 0,
    succeeded: 0,
    failed: {},
    lost: 0,
    unexpected: 0,
    kills: 0,
    seconds: 0,
    samples: [],
  };
  let settled = 0;
  let wake: (() => void) | undefined;
  const pids = { worker: 0, python: 0 };
  let statusArrived: ((complete: boolean) => void) | undefined;
  client.socket.onmessage = (event) => {
    const message = JSON.parse(event.data as string);
    if (typeof message.id !== "number") {
      if (message.id === "status") {
        // A status asked just as the worker died has no project part: ask again.
        if (message.data.project) {
          pids.worker = message.data.worker.pid;
          pids.python = message.data.project.pid;
        }
        statusArrived?.(Boolean(message.data.project));
      }
      return;
    }
    const id = message.id as number;
    if (message.status === "callback") {
      if (!acked.has(id) || done.has(id)) {
        report.unexpected++;
        return;
      }
      done.set(id, 1);
      if (message.data.ok) report.succeeded++;
      else {
        const code = message.data.error.code as string;
        report.failed[code] = (report.failed[code] ?? 0) + 1;
      }
      settled++;
    } else if (message.status === "success") {
      acked.add(id);
      report.accepted++;
      return;
    } else {
      report.refused++;
      settled++;
    }
    wake?.();
  };
  const askPids = async () => {
    for (let attempt = 0; attempt < 100; attempt++) {
      const arrived = new Promise<boolean>((resolve) => (statusArrived = resolve));
      client.send({ command: "status", id: "status" });
      if (await arrived) return;
    }
    throw new Error("Cannot read the worker's pid: status kept failing");
  };
  await askPids();
  const started = performance.now();
  const sample = async (calls: number) => {
    const point: MemorySample = {
      calls,
      seconds: Math.round((performance.now() - started) / 100) / 10,
      gateway: await rssMiB(agent.child.pid),
      worker: await rssMiB(pids.worker),
      python: await rssMiB(pids.python),
    };
    report.samples.push(point);
    options.onSample?.(point);
  };
  await sample(0);
  const sampleEvery = Math.max(1, Math.floor(options.calls / 20));
  for (let sent = 0; sent < options.calls; sent++) {
    while (sent - settled >= options.window) {
      await new Promise<void>((resolve) => (wake = resolve));
    }
    client.send({
      command: "process",
      id: sent,
      params: { object: "Soak", method: "noop", args: { i: sent } },
    });
    if (options.killEvery > 0 && sent > 0 && sent % options.killEvery === 0) {
      Deno.kill(pids.worker, "SIGKILL");
      report.kills++;
      await askPids();
    }
    if (sent > 0 && sent % sampleEvery === 0) await sample(sent);
  }
  const deadline = performance.now() + 60_000;
  while (settled < options.calls && performance.now() < deadline) {
    await new Promise<void>((resolve) => {
      wake = resolve;
      setTimeout(resolve, 100);
    });
  }
  report.seconds = Math.round((performance.now() - started) / 100) / 10;
  await sample(options.calls);
  for (const id of acked) if (!done.has(id)) report.lost++;
  return report;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      calls: { type: "string", default: "1000000" },
      "kill-every": { type: "string", default: "100000" },
      window: { type: "string", default: "2000" },
    },
  });
  const report = await soak({
    calls: Number(values.calls),
    killEvery: Number(values["kill-every"]),
    window: Number(values.window),
    onSample: (s) =>
      // deno-lint-ignore no-console -- the script's own output
      console.error(
        `${s.seconds}s calls=${s.calls} rss MiB gateway=${s.gateway} worker=${s.worker} python=${s.python}`,
      ),
  });
  // deno-lint-ignore no-console -- the script's own output
  console.log(JSON.stringify(report, null, 2));
  Deno.exit(report.lost === 0 && report.unexpected === 0 ? 0 : 1);
}
