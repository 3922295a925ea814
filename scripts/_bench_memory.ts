/**
 * Memory of the agent's processes, sampled by a small python3 helper: Deno reads
 * `/proc/PID/*` only with `--allow-all`, which `deno task bench` does not grant.
 *
 * @module
 */
import type { Agent } from "../tests/_agent.ts";
import type { BenchClient } from "./_bench_client.ts";

/** The agent's three processes; `python` is null while no project runs. */
export interface Pids {
  gateway: number;
  worker: number;
  python: number | null;
}

export type ProcessName = keyof Pids;
export const PROCESS_NAMES: ProcessName[] = ["gateway", "worker", "python"];

export async function pidsOf(agent: Agent, client: BenchClient): Promise<Pids> {
  const status = await client.request({ command: "status" });
  if (typeof status.data?.worker?.pid !== "number") {
    throw new Error(`Cannot find the worker's pid: status answered ${JSON.stringify(status)}`);
  }
  return {
    gateway: agent.child.pid,
    worker: status.data.worker.pid,
    python: status.data.project.pid ?? null,
  };
}

/** Peaks over one measured interval, in bytes. */
export interface MemoryPeaks {
  /** Per process: the higher of the sampled VmRSS and the kernel's VmHWM. */
  peak: Record<ProcessName, number>;
  /** The highest sum of one sample across the processes. */
  sum: number;
  samples: number;
}

/**
 * The sampler: VmRSS of the given pids every 10 ms on a thread of its own, and VmHWM
 * (reset at start through clear_refs) as the kernel's exact peak; on request, their CPU
 * times. It is a python3 process
 * because Deno grants reads of /proc/PID only with --allow-all; being apart also keeps
 * its samples on time while the benchmark's thread is busy sending.
 */
const SAMPLER_SOURCE = `
import json, os, sys, threading, time

TICK = os.sysconf("SC_CLK_TCK")

def field(pid, name, source="status"):
    try:
        with open("/proc/%d/%s" % (pid, source)) as status:
            for line in status:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0

lock = threading.Lock()
run = {"pids": [], "peaks": [], "sum": 0, "samples": 0, "on": False}

def sample():
    total = 0
    for i, pid in enumerate(run["pids"]):
        value = field(pid, "VmRSS")
        run["peaks"][i] = max(run["peaks"][i], value)
        total += value
    run["sum"] = max(run["sum"], total)
    run["samples"] += 1

def cpu_ms(pid):
    try:
        with open("/proc/%d/stat" % pid) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) * 1000 / TICK
    except (OSError, ValueError, IndexError):
        return 0

def loop():
    while True:
        time.sleep(0.01)
        with lock:
            if run["on"]:
                sample()

threading.Thread(target=loop, daemon=True).start()
for line in sys.stdin:
    command, *args = line.split()
    pids = [int(arg) for arg in args]
    with lock:
        if command == "rss":
            reply = [field(pid, "VmRSS") for pid in pids]
        elif command == "pss":
            reply = [field(pid, "Pss", "smaps_rollup") for pid in pids]
        elif command == "cpu":
            reply = [cpu_ms(pid) for pid in pids]
        elif command == "start":
            for pid in pids:
                try:
                    with open("/proc/%d/clear_refs" % pid, "w") as refs:
                        refs.write("5")
                except OSError:
                    pass
            run.update(pids=pids, peaks=[0] * len(pids), sum=0, samples=0, on=True)
            sample()
            reply = None
        else:
            sample()
            run["on"] = False
            peaks = [max(p, field(pid, "VmHWM")) for p, pid in zip(run["peaks"], run["pids"])]
            reply = {"peaks": peaks, "sum": run["sum"], "samples": run["samples"]}
    print(json.dumps(reply), flush=True)
`;

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffer = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    buffer += text;
    for (let end = buffer.indexOf("\n"); end >= 0; end = buffer.indexOf("\n")) {
      yield buffer.slice(0, end);
      buffer = buffer.slice(end + 1);
    }
  }
}

export class MemorySampler {
  #child: Deno.ChildProcess;
  #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncGenerator<string>;

  constructor() {
    this.#child = new Deno.Command("python3", {
      args: ["-c", SAMPLER_SOURCE],
      stdin: "piped",
      stdout: "piped",
    }).spawn();
    this.#stdin = this.#child.stdin.getWriter();
    this.#lines = lines(this.#child.stdout);
  }

  /**
   * Current VmRSS of each process, or with `"pss"` the proportional set size: pages
   * shared between processes (the Deno binary's code, mapped by gateway and worker)
   * counted once across them instead of once in each.
   */
  async rss(pids: Pids, kind: "rss" | "pss" = "rss"): Promise<Record<ProcessName, number>> {
    const values = await this.#ask(kind, pids) as number[];
    return Object.fromEntries(PROCESS_NAMES.map((name, i) => [name, values[i]])) as Record<
      ProcessName,
      number
    >;
  }

  /** CPU time (user + system) each process has used so far, in ms. */
  async cpuMs(pids: number[]): Promise<number[]> {
    return await this.#ask("cpu", pids) as number[];
  }

  /** Starts sampling (and resets the kernel's peaks). */
  async start(pids: Pids): Promise<void> {
    await this.#ask("start", pids);
  }

  /** Stops sampling; the peaks since {@linkcode start}. */
  async stop(): Promise<MemoryPeaks> {
    const { peaks, sum, samples } = await this.#ask("stop") as {
      peaks: number[];
      sum: number;
      samples: number;
    };
    const peak = Object.fromEntries(PROCESS_NAMES.map((name, i) => [name, peaks[i]]));
    return { peak: peak as Record<ProcessName, number>, sum, samples };
  }

  async #ask(command: string, pids?: Pids | number[]): Promise<unknown> {
    const args = Array.isArray(pids)
      ? pids
      : pids
      ? PROCESS_NAMES.map((name) => pids[name] ?? 0)
      : [];
    await this.#stdin.write(new TextEncoder().encode(`${[command, ...args].join(" ")}\n`));
    const line = await this.#lines.next();
    if (line.done) throw new Error("The memory sampler exited");
    return JSON.parse(line.value);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.#stdin.close().catch(() => {});
    await this.#lines.return(undefined);
    await this.#child.status;
  }
}

// ---------------------------------------------------------------------------------------
// Projects and uploads
